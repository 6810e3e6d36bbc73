import numpy as np

from leaksleuth.stats import robust_fit, verdict


def test_slope_of_exact_line_is_exact():
    x = np.arange(10) * 500.0
    fit = robust_fit(x, 1e6 + 2000 * x)
    assert abs(fit.slope - 2000) < 1e-9
    assert fit.ci95[0] <= 2000 <= fit.ci95[1]


def test_one_outlier_round_does_not_flip_the_verdict():
    rng = np.random.default_rng(1)
    x = np.arange(10) * 1000.0
    y = 5e6 + rng.normal(0, 50_000, size=10)  # flat heap, 50 KB noise
    y[6] -= 600_000  # V8 flushes old bytecode once: a 0.6 MB drop
    fit = robust_fit(x, y)
    assert verdict(fit, 1024) == "no leak"
    y_leak = 5e6 + 10_000 * x + rng.normal(0, 50_000, size=10)
    y_leak[3] += 3_000_000  # one wild reading
    assert verdict(robust_fit(x, y_leak), 1024) == "leak"


def test_noisy_flat_series_is_not_a_leak_but_too_few_points_are_inconclusive():
    x = np.arange(3) * 100.0
    y = np.array([0.0, 200_000.0, -100_000.0])
    assert verdict(robust_fit(x, y), 1024) == "inconclusive"
    assert verdict(robust_fit([0.0, 100.0], [0.0, 0.0]), 1024) == "inconclusive"
