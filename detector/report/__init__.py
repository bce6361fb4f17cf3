"""The investigation report (``minewatch report``): who mines, on whose power, how much.

The last stage of the pipeline (docs/ARCHITECTURE.md §1): it reads what the earlier stages
made - suspects from a scan of captures, a scan's EVE lines, or the suspect store - and
turns them into one document for the people who act on the findings. Three steps, one
module each, talking through plain data (``data.py``):

* ``collect``: suspects from any of the three inputs as ``ReportSuspect`` rows, one per
  miner IP, with the hashrate and energy estimates and the rules that fired;
* ``summary``: the owners map applied, the summary numbers and the per-entity table;
* ``tables`` (the cells every format shares), ``html`` (with ``plots``), markdown and CSV.

An input that lacks a fact (the screened hosts are only known to a scan of captures; the
store keeps neither activity over time nor a hashrate's interval) leaves it ``None``, and
the report says "not available from this input" instead of a number nobody measured.
"""
