from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from fmnist.augment import ElasticDistortion, RandomAffine, build_augmentation, gaussian_kernel
from fmnist.errors import ConfigError
from fmnist.train import make_dataset


@pytest.fixture(scope="module")
def shoes(fashion) -> np.ndarray:
    """Real, left-right asymmetric images (sandals, sneakers, ankle boots)."""
    keep = np.isin(fashion.y_test, [5, 7, 9])
    return fashion.x_test[keep][:64]


@pytest.mark.parametrize("alpha", [0, 0.0, [0, 0]])
def test_alpha_zero_is_identity(shoes, alpha) -> None:
    out = ElasticDistortion(alpha=alpha, sigma=3, seed=1)(shoes, training=True)
    assert np.array_equal(np.asarray(out), shoes)


def test_only_active_when_training(shoes) -> None:
    layer = ElasticDistortion(alpha=12, sigma=3, seed=1)
    assert np.array_equal(np.asarray(layer(shoes, training=False)), shoes)
    assert np.array_equal(np.asarray(layer(shoes)), shoes)
    assert not np.array_equal(np.asarray(layer(shoes, training=True)), shoes)


def test_orientation_is_kept(shoes) -> None:
    out = np.asarray(ElasticDistortion(alpha=[10, 12], sigma=3, seed=2)(shoes, training=True))
    to_original = np.abs(out - shoes).mean(axis=(1, 2, 3))
    to_transpose = np.abs(out - shoes.transpose(0, 2, 1, 3)).mean(axis=(1, 2, 3))
    assert np.all(to_original < to_transpose)
    assert to_original.mean() < 0.5 * to_transpose.mean()


def test_fields_differ_per_image_and_reproduce_with_seed() -> None:
    a = np.asarray(ElasticDistortion(10, 3, seed=7).sample_displacements(4, 28, 28))
    b = np.asarray(ElasticDistortion(10, 3, seed=7).sample_displacements(4, 28, 28))
    c = np.asarray(ElasticDistortion(10, 3, seed=8).sample_displacements(4, 28, 28))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    for i in range(1, 4):
        assert not np.allclose(a[0], a[i])
    # row and column fields are drawn independently (Keras' RandomElasticTransform reuses one)
    assert not np.allclose(a[:, 0], a[:, 1])


@pytest.mark.parametrize("sigma", [3.0, 1.0, 10.0])  # 10: the kernel is wider than the image
def test_smoothing_equals_scipy_gaussian_filter(sigma: float) -> None:
    layer = ElasticDistortion(alpha=1, sigma=sigma)
    noise = np.random.default_rng(0).uniform(-1, 1, (3, 2, 28, 20)).astype("float32")
    ours = np.asarray(layer._smooth(noise))
    for b in range(3):
        for c in range(2):
            ref = gaussian_filter(noise[b, c].astype(np.float64), sigma, mode="reflect")
            assert np.allclose(ours[b, c], ref, atol=1e-5)


@pytest.mark.parametrize(("alpha", "sigma"), [(10.0, 3.0), (34.0, 4.0), (5.0, 2.0)])
def test_displacement_statistics_match_the_definition(alpha: float, sigma: float) -> None:
    """uniform(-1, 1) has variance 1/3; a separable Gaussian with taps k scales the variance by
    (sum k^2)^2; so away from the borders std = alpha * sqrt(1/3) * sum k^2."""
    layer = ElasticDistortion(alpha=alpha, sigma=sigma, seed=3)
    d = np.asarray(layer.sample_displacements(512, 28, 28))
    k = gaussian_kernel(sigma).astype(np.float64)
    expected = alpha * np.sqrt(1 / 3) * (k**2).sum()
    centre = d[:, :, 10:18, 10:18]
    assert centre.std() == pytest.approx(expected, rel=0.05)
    assert abs(centre.mean()) < 0.05 * expected
    corr = np.corrcoef(centre[:, 0].ravel(), centre[:, 1].ravel())[0, 1]
    assert abs(corr) < 0.05


def test_alpha_range_is_drawn_per_image() -> None:
    layer = ElasticDistortion(alpha=[1, 30], sigma=3, seed=4)
    d = np.asarray(layer.sample_displacements(64, 28, 28))
    stds = d.std(axis=(1, 2, 3))
    assert stds.max() > 3 * stds.min()


def test_get_config_round_trip_and_saving(tmp_path) -> None:
    layer = ElasticDistortion(alpha=[10, 12], sigma=3.0, seed=5, name="elastic")
    clone = ElasticDistortion.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert {"alpha": [10.0, 12.0], "sigma": 3.0, "seed": 5}.items() <= layer.get_config().items()
    affine = RandomAffine(rotation_range=8, zoom_range=0.1, vertical_flip=True, seed=1)
    assert RandomAffine.from_config(affine.get_config()).get_config() == affine.get_config()
    model = keras.Sequential([keras.Input((28, 28, 1)), affine, layer, keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(x).__name__ for x in loaded.layers[:2]] == ["RandomAffine", "ElasticDistortion"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": -3}, "alpha must be >= 0, got alpha=-3"),
        ({"alpha": [12, 10]}, r"alpha must be \[low, high\] with 0 <= low <= high, got alpha=\[12, 10\]"),
        ({"alpha": [1, 2, 3]}, "alpha must be a number or"),
        ({"sigma": 0}, "sigma must be > 0, got sigma=0"),
    ],
)
def test_elastic_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ElasticDistortion(**kwargs)


def test_affine_identity_flips_and_errors(shoes) -> None:
    assert np.array_equal(np.asarray(RandomAffine(seed=0)(shoes, training=True)), shoes)
    flipped = np.asarray(RandomAffine(horizontal_flip=True, seed=0)(shoes, training=True))
    same = [np.allclose(f, s) for f, s in zip(flipped, shoes, strict=True)]
    mirrored = [np.allclose(f, s[:, ::-1]) for f, s in zip(flipped, shoes, strict=True)]
    assert all(a or b for a, b in zip(same, mirrored, strict=True)) and 10 < sum(mirrored) < 54
    moved = np.asarray(RandomAffine(rotation_range=8, zoom_range=0.1, shear_range=0.3,
                                    width_shift_range=0.08, height_shift_range=0.08,
                                    seed=0)(shoes, training=True))
    assert moved.shape == shoes.shape and not np.allclose(moved, shoes)
    assert np.abs(moved - shoes).mean() < np.abs(moved - shoes.transpose(0, 2, 1, 3)).mean()
    with pytest.raises(ConfigError, match="rotation_range must be >= 0, got rotation_range=-1"):
        RandomAffine(rotation_range=-1)
    with pytest.raises(ConfigError, match="fill_mode must be one of"):
        RandomAffine(fill_mode="mirror-ish")


def test_pipeline_runs_inside_tf_data_with_distinct_seeds(shoes) -> None:
    import functools

    pipeline = build_augmentation(
        [functools.partial(RandomAffine, height_shift_range=2),
         functools.partial(ElasticDistortion, alpha=[10, 12], sigma=3)], seed=3)
    assert [layer.seed for layer in pipeline.layers] == [3000, 3001]
    ds = make_dataset(shoes, np.zeros(len(shoes), "int32"), 16, shuffle_seed=0, augmentation=pipeline)
    batches = [np.asarray(x) for x, _ in ds]
    assert sum(len(b) for b in batches) == len(shoes)
    assert all(b.shape[1:] == (28, 28, 1) for b in batches)
    assert build_augmentation([], 0) is None


@pytest.mark.parametrize("reach", [3.0, 40.0])  # 40: far outside, reflected several times
def test_resampling_equals_scipy_map_coordinates(reach: float) -> None:
    from scipy.ndimage import map_coordinates

    from fmnist.augment import _bilinear

    rng = np.random.default_rng(1)
    images = rng.random((3, 28, 20, 2)).astype("float32")
    rows = (np.arange(28)[None, :, None] + rng.uniform(-reach, reach, (3, 28, 20))).astype("float32")
    cols = (np.arange(20)[None, None, :] + rng.uniform(-reach, reach, (3, 28, 20))).astype("float32")
    ours = np.asarray(_bilinear(images, rows, cols))
    for b in range(3):
        for c in range(2):
            ref = map_coordinates(images[b, ..., c].astype(np.float64), [rows[b], cols[b]], order=1,
                                  mode="reflect")
            assert np.allclose(ours[b, ..., c], ref, atol=1e-5)
