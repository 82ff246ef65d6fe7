"""Media helpers below both the anchors and the evaluation: planar Y'CbCr sequences (yuv),
colour conversion (color), external processes (process), the ffmpeg of imageio-ffmpeg
(ffmpeg_tool) and its decoders for the inner codec pictures of feature-anchor streams
(inner_decoders). They import nothing of vcmref but the bitstream layer and vcmref.errors."""
