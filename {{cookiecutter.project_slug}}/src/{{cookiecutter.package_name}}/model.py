"""The model: its class and parameters, and what loading it needs.

Change the class here and training, the registered model's requirements and the tests follow; add
the class's package to the dependencies in pyproject.toml.
"""

from importlib.metadata import packages_distributions, version

from sklearn.base import RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor

PARAMS = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.1,
    "random_state": 42,
}
# What loads any model logged with MLflow's sklearn flavour and cloudpickle, and feeds it rows.
LOADING_REQUIREMENTS = ("mlflow", "cloudpickle", "pandas", "numpy")


def build_model(params: dict = PARAMS) -> RegressorMixin:
    """Gradient-boosted trees; missing feature values (no recent activity) are handled natively."""
    return HistGradientBoostingRegressor(**params)


def model_packages(model: object) -> set[str]:
    """The top-level packages of the model's class and, for a pipeline or an ensemble, of the
    estimators inside it."""
    parts = [model]
    if hasattr(model, "get_params"):
        parts += model.get_params(deep=True).values()
    return {type(part).__module__.partition(".")[0] for part in parts} - {"builtins"}


def pip_requirements(model: object) -> list[str]:
    """What loading `model` needs, pinned to the versions installed here, which trained it."""
    distributions = packages_distributions()
    names = list(LOADING_REQUIREMENTS)
    for package in sorted(model_packages(model)):
        names += [name for name in distributions.get(package, []) if name not in names]
    return [f"{name}=={version(name)}" for name in names]
