"""Full-reference picture quality metrics of the JPEG AI CTC beyond PSNR and MS-SSIM
(docs/metrics.md, "JPEG AI metric set"), each in its own module with its definition, reference
and conventions: VIF (pixel domain), FSIM/FSIMc, NLPD, IW-SSIM, PSNR-HVS and PSNR-HVS-M.

Every function takes the reference first and the distorted picture second, as (height, width)
planes (FSIMc: (height, width, 3) R'G'B') of integer or float samples in [0, peak], with the
peak stated (255 for 8-bit codes, 1023 for 10-bit); the metrics' constants are defined for
8-bit samples, so each scales its input by 255 / peak (NLPD: by 1 / peak) first. Higher is
better for all but NLPD. `vcmref.eval.iqa.jpeg_ai` registers them as CTC metrics on the planes
JPEG AI measures (BT.709 full-range Y'CbCr at 10 bits).

Modules (import the function from its module: ``from vcmref.eval.iqa.vif import vif``):
`vif`, `fsim`, `nlpd`, `iw_ssim`, `psnr_hvs` (psnr_hvs and psnr_hvs_m), `jpeg_ai`.
"""
