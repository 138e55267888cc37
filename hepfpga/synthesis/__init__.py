"""Vivado/Vitis HLS synthesis where the tools exist, and the reports they write."""
