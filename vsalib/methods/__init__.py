"""One module per paper's method; ``global_cnn`` is the whole-image baseline every paper compares with."""
