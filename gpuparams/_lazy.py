"""Lazy attributes for package namespaces (PEP 562), so ``import gpuparams`` stays light."""
import importlib

from ._unsupported import missing_name

__all__ = ["lazy_attributes"]


def lazy_attributes(namespace, members):
    """Return ``(__getattr__, __dir__)`` for a module whose ``members`` are imported on first use.

    Parameters
    ----------
    namespace : dict
        The module's ``globals()``; each value is cached there after its first import.
    members : dict of str to (str, str or None)
        Attribute name -> (module to import, attribute of it, or None for the module itself).
    """
    module_name = namespace["__name__"]

    def __getattr__(name):
        try:
            target, attr = members[name]
        except KeyError:
            if name.startswith("__"):  # Python's own probes: the usual error
                raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None
            # An MXNet name we lack (gluon.rnn, mx.kv ...): say so rather than a bare AttributeError.
            available = set(members) | {k for k in namespace if not k.startswith("_")}
            raise missing_name(module_name, name, available) from None
        module = importlib.import_module(target)
        value = module if attr is None else getattr(module, attr)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace.get("__all__", ())) | set(members))

    return __getattr__, __dir__
