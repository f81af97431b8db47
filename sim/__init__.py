"""cocotb testbenches, simulator runner glue and the host-to-simulation bridge."""
