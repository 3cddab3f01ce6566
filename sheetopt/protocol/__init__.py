"""The run protocol around the rules: walking the batch plan, recording, the trace, the results.

- ``engine``: the row-wise engine (the batch plan, the numpy loop, the recorder, runs);
- ``trace``: the record of a run; ``results``: what ``sheetopt.run`` returns;
- ``report``: the per-sheet summaries that compare prints; ``memory``: the size check before a
  run; ``progress``: the progress bar.
"""
