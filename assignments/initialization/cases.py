"""Case builders for the initialization assignment.

Every graded function takes one argument, `layers_dims`, so one builder serves them all.
Builders import only numpy and the standard library.
"""


def layers(ref, dims):
    """The call `f(layers_dims)` with the given list of layer sizes (input size first)."""
    return {"layers_dims": [int(n) for n in dims]}
