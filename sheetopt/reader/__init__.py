"""Reading workbooks back: the hardened .xlsx reader (``xlsx``), the check of an (edited)
workbook against a rerun (``check``) and the stored values as trace columns (``values``)."""
