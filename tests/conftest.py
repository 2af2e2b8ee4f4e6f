"""Shared fixtures. Real data: CIFAR-10 from ../shared/data, Fashion-MNIST from its Debian package."""

import os

import pytest

# Tests share the user's dataset/compilation caches: preparing CIFAR-10 once costs ~45 s.
os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="session")
def cifar10():
    from hpobench import data
    return data.load("cifar10")


@pytest.fixture(scope="session")
def fashion():
    from hpobench import data
    return data.load("fashion_mnist")


@pytest.fixture
def tiny_config():
    """The default configuration on the smallest architecture: quick to compile and train."""
    from hpobench import spaces
    return dict(spaces.resnet().get_default_configuration()) | {"depth": 8, "width": 8, "batch_size": 64}
