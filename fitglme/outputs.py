"""Results of the methods with several outputs: the first output, carrying all of them.

MATLAB decides by the number of outputs the caller asks for: ``beta = fixedEffects(glme)`` is the
coefficient vector, ``[beta, betanames, stats] = fixedEffects(glme)`` gives three values.  A
Python function cannot see that number when it is called, so these methods return **the first
output**, as an object of a subclass of its own type (numpy array, float, list, sparse matrix),
that also carries every output:

* unpacking gives the outputs: ``beta, betanames, stats = fixedEffects(glme)``, or the first k of
  them (``beta, betanames = ...``, MATLAB's ``[beta, betanames] = ...``);
* ``res.stats`` etc. (MATLAB's output names) and ``res.outputs`` (the NamedTuple of all outputs);
* everything else treats it as the first output: indexing, ``len``, iteration (for loops,
  ``list``, ``zip``, ``sum``), arithmetic, comparisons, numpy functions, printing.  Values derived
  from it (slices, results of arithmetic and numpy functions, copies) are ordinary values.

Unpacking and iteration both call ``__iter__``.  They are told apart by the instruction that asks
for the iterator: an unpacking assignment (the ``UNPACK_SEQUENCE`` / ``UNPACK_EX`` instructions of
CPython, whose argument is the number of names on the left -- MATLAB's ``nargout``) gets the
outputs; any other caller (``for``, ``list()``, ``zip()``, ``*args``, ...) iterates the first
output.  docs/migration.md ("One output or several") states the rule and its limits.

:class:`OneRowDataset` is the same idea for MATLAB's one-row tables (``glme.ModelCriterion``): a
variable of a one-row table is a scalar in MATLAB, so ``glme.ModelCriterion.AIC`` is a float.
"""
from __future__ import annotations

import dis
import sys
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from .display.tables import MatlabDataset
from .errors import FitglmeError

__all__ = ["with_outputs", "OneRowDataset"]

_UNPACK_SEQUENCE = dis.opmap["UNPACK_SEQUENCE"]
_UNPACK_EX = dis.opmap["UNPACK_EX"]
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]


def _unpack_targets(frame) -> tuple[int, bool] | None:
    """(number of plain names on the left, starred?) when ``frame`` is executing an unpacking
    assignment, else None."""
    if frame is None:
        return None
    code = frame.f_code.co_code
    i = frame.f_lasti
    if i < 0 or i + 1 >= len(code):
        return None
    while i >= 2 and code[i - 2] == _EXTENDED_ARG:  # f_lasti at the instruction (3.11+) ...
        i -= 2
    op, arg = code[i], code[i + 1]
    while op == _EXTENDED_ARG and i + 3 < len(code):  # ... or at its EXTENDED_ARG prefix (3.10)
        i += 2
        op, arg = code[i], (arg << 8) | code[i + 1]
    if op == _UNPACK_SEQUENCE:
        return arg, False
    if op == _UNPACK_EX:  # low byte: names before the star, the rest: names after it
        return (arg & 0xFF) + (arg >> 8), True
    return None


class _Outputs:
    """Behaviour shared by the first-output subclasses (mixed in before the value type)."""

    _record: NamedTuple | None = None
    _method: str = ""

    @property
    def outputs(self) -> NamedTuple:
        """Every output, as the NamedTuple of MATLAB's output names (``res.outputs.stats``)."""
        record = self.__dict__.get("_record")
        if record is None:
            raise AttributeError(f"this {type(self).__mro__[2].__name__} is derived from a method's first "
                                 "output and carries no other outputs")
        return record

    def __getattr__(self, name: str) -> Any:  # only called when ordinary lookup fails
        record = object.__getattribute__(self, "__dict__").get("_record")
        if record is not None and (name in record._fields or name in ("_fields", "_asdict")):
            return getattr(record, name)
        return object.__getattribute__(self, name)  # raises the ordinary AttributeError

    def __dir__(self):
        record = self.__dict__.get("_record")
        return sorted(set(super().__dir__()) | set(record._fields if record is not None else ()))

    def _unpacked(self, frame):
        """The outputs for an unpacking in ``frame``, or None when ``frame`` is not unpacking."""
        record = self.__dict__.get("_record")
        targets = None if record is None else _unpack_targets(frame)
        if targets is None:
            return None
        k, starred = targets
        n = len(record)
        if k > n:
            names = ", ".join(record._fields)
            raise FitglmeError(
                f"{self._method} has {n} outputs ({names}); cannot unpack them into {k} names.",
                "fitglme:TooManyOutputs")
        return iter(record if starred else record[:k])

    def __reduce__(self):
        record = self.__dict__.get("_record")
        if record is None:
            return _plain_reduce(self)
        return (with_outputs, (record, self._method))


def _plain_reduce(obj):
    """Pickle a derived value as its base type."""
    base = type(obj).__mro__[2]
    if base is np.ndarray:
        return np.asarray(obj).view(np.ndarray).__reduce__()
    if issubclass(base, sp.spmatrix):
        return sp.csc_matrix(obj).__reduce__()
    return (base, (base(obj),))


def _plain(obj: Any) -> Any:
    """Our array subclass -> a plain ndarray view; containers are converted element-wise."""
    if isinstance(obj, ArrayOutputs):
        return obj.view(np.ndarray)
    if isinstance(obj, (list, tuple)) and any(isinstance(o, ArrayOutputs) for o in obj):
        return (tuple if isinstance(obj, tuple) else list)(_plain(o) for o in obj)
    return obj


class ArrayOutputs(_Outputs, np.ndarray):
    """The first output of a method when it is a numpy array (``beta``, ``B``, ``feCI``, ``y``,
    ``ypred``, ``pd``)."""

    def __iter__(self):
        outs = self._unpacked(sys._getframe(1))
        return outs if outs is not None else iter(self.view(np.ndarray))

    def __getitem__(self, key):
        return self.view(np.ndarray)[key]

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(o) for o in kwargs["out"])
        return getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return func(*(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()})

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __str__(self) -> str:
        return str(self.view(np.ndarray))


class FloatOutputs(_Outputs, float):
    """The first output of a method when it is a scalar (``coefTest``'s ``pVal``)."""

    def __iter__(self):
        outs = self._unpacked(sys._getframe(1))
        if outs is not None:
            return outs
        record = self.__dict__.get("_record")
        if record is None:
            raise TypeError("'float' object is not iterable")
        raise TypeError(f"{self._method}'s first output is a number and is not iterable; unpack the call "
                        f"to get every output: {', '.join(record._fields)} = {self._method}(...)")

    def __repr__(self) -> str:
        return float.__repr__(self)

    __str__ = __repr__


class ListOutputs(_Outputs, list):
    """The first output of a method when it is a list (``covarianceParameters``'s ``psi``,
    MATLAB's cell array)."""

    def __iter__(self):
        outs = self._unpacked(sys._getframe(1))
        return outs if outs is not None else list.__iter__(self)


class SparseOutputs(_Outputs, sp.csc_matrix):
    """The first output of a method when it is a sparse matrix (``designMatrix``'s ``Dsub``)."""

    def __iter__(self):
        outs = self._unpacked(sys._getframe(1))
        return outs if outs is not None else sp.csc_matrix.__iter__(self)


def with_outputs(record: NamedTuple, method: str):
    """The first output of ``record`` (a NamedTuple of a method's outputs, in MATLAB's order), as a
    value of its own type that unpacks into every output and keeps them as attributes.

    Parameters
    ----------
    record : NamedTuple
        The outputs; the first is a numpy array, a float, a list or a scipy CSC matrix.
    method : str
        The method's MATLAB name (for messages).

    Examples
    --------
    >>> from fitglme.methods.hypothesis import CoefTest
    >>> res = with_outputs(CoefTest(0.01, 7.5, 1.0, 98.0), "coefTest")
    >>> res < 0.05, res.F
    (True, 7.5)
    >>> pVal, F, DF1, DF2 = res
    >>> DF2
    98.0
    """
    first = record[0]
    if isinstance(first, np.ndarray):
        out = np.asarray(first).view(ArrayOutputs)
    elif isinstance(first, (float, int, np.floating, np.integer)) and not isinstance(first, bool):
        out = FloatOutputs(first)
    elif isinstance(first, list):
        out = ListOutputs(first)
    elif isinstance(first, sp.csc_matrix):
        out = SparseOutputs(first)
    else:  # pragma: no cover - every method's first output is one of the above
        raise TypeError(f"no first-output type for {type(first).__name__}")
    out.__dict__["_record"] = record
    out.__dict__["_method"] = method
    return out


class OneRowDataset(MatlabDataset):
    """A one-row MatlabDataset whose variables, read as attributes, are scalars (MATLAB's
    ``glme.ModelCriterion.AIC``); ``tbl['AIC']`` stays pandas' one-element column.

    Examples
    --------
    >>> crit = OneRowDataset({"AIC": [426.46], "BIC": [434.28]})
    >>> crit.AIC < 500, type(crit.BIC).__name__, len(crit["AIC"])
    (True, 'float', 1)
    >>> print(crit)
        AIC       BIC   
        426.46    434.28
    """

    def __getattr__(self, name: str) -> Any:
        built = "_mgr" in object.__getattribute__(self, "__dict__")  # pandas' data, once constructed
        if built and not name.startswith("_") and len(self) == 1 and name in self.columns:
            value = self[name].iloc[0]
            return value.item() if isinstance(value, np.generic) else value
        return super().__getattr__(name)
