"""``python -m fitglme``: fit the bundled mfr-shaped example and print MATLAB's display."""
from __future__ import annotations

from . import fitglme, load_example

FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def main() -> None:
    mfr = load_example()
    print(">> glme = fitglme(mfr, '" + FORMULA + "', ...")
    print("       'Distribution', 'Poisson', 'Link', 'log', 'FitMethod', 'Laplace', 'DummyVarCoding', 'effects')")
    glme = fitglme(mfr, FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                   "DummyVarCoding", "effects")
    print(glme.display("glme"))


if __name__ == "__main__":
    main()
