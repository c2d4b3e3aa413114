"""Figure style and figure functions render to Agg with labelled axes."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape import directions, paths, plots, surfaces  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _surface():
    f = lambda x: jnp.square(jnp.sum(jnp.square(x)) - 1.0) + 0.1
    grid = jnp.linspace(-1.5, 1.5, 21)
    return surfaces.slice_2d(f, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]),
                             grid, grid, chunk_size=50)


def test_style_is_scoped_and_sized():
    before = dict(matplotlib.rcParams)
    with plots.style():
        assert matplotlib.rcParams["font.size"] == plots.STYLE["font.size"]
        assert tuple(matplotlib.rcParams["figure.figsize"]) == pytest.approx(
            plots.figure_size(columns=1))
    with plots.style(**{"font.size": 11}):
        assert matplotlib.rcParams["font.size"] == 11
    assert dict(matplotlib.rcParams) == before  # nothing leaks out of the context
    w1, h1 = plots.figure_size(1)
    w2, h2 = plots.figure_size(2, nrows=2, ncols=3, aspect=0.75)
    assert (w1, w2) == (plots.COLUMN_WIDTH, plots.TEXT_WIDTH)
    assert h1 == pytest.approx(w1 * 0.618, rel=1e-3)
    assert h2 == pytest.approx(w2 * 0.75 * 2 / 3)
    assert plots.figure_size(1, height=2.0) == (plots.COLUMN_WIDTH, 2.0)
    for field, bad in (("columns", {"columns": 3}), ("aspect", {"aspect": 0.0}),
                       ("nrows", {"nrows": 0})):
        with pytest.raises(ValueError, match=field):
            plots.figure_size(**bad)


def test_save_writes_png_and_pdf(tmp_path):
    with plots.style():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        saved = plots.save(fig, "example", out_dir=tmp_path / "figs")
    assert [p.suffix for p in saved] == [".png", ".pdf"]
    for p in saved:
        assert p.exists() and p.stat().st_size > 1000
    assert saved[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved[1].read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="name"):
        plots.save(fig, "sub/example", out_dir=tmp_path)
    with pytest.raises(ValueError, match="name"):
        plots.save(fig, "example.png", out_dir=tmp_path)


def _labelled(ax):
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_contour_and_surface_render():
    s = _surface()
    with plots.style():
        fig = plt.figure(figsize=plots.figure_size(2, ncols=2))
        ax1 = fig.add_subplot(1, 2, 1)
        ax2 = fig.add_subplot(1, 2, 2, projection="3d")
        assert plots.plot_contour(ax1, s) is ax1
        assert plots.plot_surface_3d(ax2, s, log=True) is ax2
        fig.canvas.draw()
    assert _labelled(ax1) and _labelled(ax2) and ax2.get_zlabel()
    assert len(fig.axes) == 3  # the colorbar
    with pytest.raises(ValueError, match="ax"):
        plots.plot_surface_3d(ax1, s)


def test_trajectory_overlay_renders(key):
    traj = jnp.cumsum(jax.random.normal(key, (12, 30)), axis=0)
    pca = directions.trajectory_pca(traj)
    s = _surface()
    with plots.style():
        fig, ax = plt.subplots()
        plots.plot_contour(ax, s, log=False, colorbar=False)
        out = plots.plot_trajectory(ax, pca)
        plots.plot_curve_on_plane(ax, np.asarray(pca.coords[:3]), label="points", marker="x",
                                  linestyle="none")
        ax.legend()
        fig.canvas.draw()
    assert out is ax and _labelled(ax)
    assert "PC 1" in ax.get_xlabel() and "%" in ax.get_ylabel()


def test_interpolation_and_slice_render():
    f = lambda x: jnp.square(jnp.sum(jnp.square(x)) - 1.0)
    res = paths.interpolate(f, jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]), num_points=11)
    sl = surfaces.slice_1d(f, jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.linspace(-1, 1, 9))
    with plots.style():
        fig, (ax1, ax2) = plt.subplots(1, 2)
        assert plots.plot_interpolation(ax1, res, label="line") is ax1
        assert plots.plot_slice_1d(ax2, sl, label="slice") is ax2
        fig.canvas.draw()
    assert _labelled(ax1) and _labelled(ax2)
    texts = [t.get_text() for t in ax1.texts]
    assert any(t.startswith("barrier 1") for t in texts), texts
