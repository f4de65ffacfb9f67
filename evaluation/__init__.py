"""Evaluation of an exported model: hole metrics against the classical fills, LPIPS, the report."""
