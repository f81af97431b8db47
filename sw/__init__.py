"""Host software: the float EGRU and its training, data sets, and (later) quantization,
the bit-exact golden model, the model file and the host driver."""
