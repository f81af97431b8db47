"""Amaranth components of the EGRU accelerator. Imports nothing from sw/, gen/ or sim/."""
