"""Generation: the `egru` command line, elaboration to Verilog, board builds and reports."""
