"""The one error type that user mistakes raise; the CLI prints it as one line and exits 2."""


class SheetoptError(Exception):
    """A problem with the user's input: a spec, a CSV, an option or an output path.

    The message is one line that names the file, key, row or value at fault.
    """
