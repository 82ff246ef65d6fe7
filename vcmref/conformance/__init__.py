"""Conformance: the stream suite, must-reject streams, the checker for any decoder, coverage
of the syntax, and a second, plain decoding path written from the spec."""
