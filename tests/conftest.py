import os

# keras 3 picks its backend at import: ours is torch (tensorflow is not installed)
os.environ.setdefault("KERAS_BACKEND", "torch")


def pytest_addoption(parser):
    parser.addoption("--overwrite", action="store_true", help="rewrite golden files from the current output")
