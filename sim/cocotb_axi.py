"""The cocotb test module for the generated egru_axi. The host (sim/runner.py) passes the run's
spec in EGRU_SIM_SPEC and reads the observations from EGRU_SIM_OUT."""

import json
import os

import cocotb

from sim.axi_tb import AxiTB


@cocotb.test()
async def axi_ip_matches_golden_and_cycle_model(dut):
    with open(os.environ["EGRU_SIM_SPEC"]) as f:
        spec = json.load(f)
    tb = AxiTB(dut, spec)
    try:
        await tb.run()
    finally:
        with open(os.environ["EGRU_SIM_OUT"], "w") as f:
            json.dump({"sequences": tb.results, "cycles": tb.cycles, "seconds": getattr(tb, "seconds", None),
                       "completed": tb.checker.n, "problems": tb.problems, "memory_words": tb.memory_words}, f)
