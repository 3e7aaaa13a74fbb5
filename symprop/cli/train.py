"""``symprop train``: generate a network's module (NumPy, or compiled by Numba), import it
and train it."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import numpy as np

from symprop.cli.generate import backend_option, refuse_shadowing, render_for
from symprop.core.errors import SymPropError, shown_path
from symprop.core.files import check_writable, private_folder, write_atomic
from symprop.core.spec import MAX_SEED, Network, default_network, load_spec


def load_dataset(source: str, module: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    """X and Y from ``source``: ``digits`` (scikit-learn's 8x8 digits, pixels scaled to
    [0, 1]) or a file the generated module reads (.npz with X and y, .csv targets last)."""
    if source == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise SymPropError(
                "--data digits needs scikit-learn (pip install 'symprop[peers]')"
            ) from None
        digits = load_digits()
        return digits.data / 16.0, digits.target.astype(np.int64)
    if not Path(source).exists():
        raise SymPropError(f"--data: {shown_path(source)}: no such file (or use --data digits)")
    try:
        return module._read_data(source)
    except ValueError as exc:
        raise SymPropError(str(exc)) from None


def _check_before_training(
    module: ModuleType,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    settings: dict[str, Any],
    from_spec: bool,
) -> None:
    """Refuse, in one line and before the progress bar starts, a batch size below the
    module's minimum (layers coupling a batch's samples need two) and training data the
    module cannot read (its width, its targets, too few rows)."""
    minimum = getattr(module, "_MIN_BATCH", 1)
    if settings["batch_size"] < minimum:
        option = "[training] batch_size" if from_spec else "--batch-size"
        raise SymPropError(
            f"{option}: got {settings['batch_size']}; must be at least {minimum} "
            "(layers that couple the samples of a batch need two of them)"
        )
    try:
        X, Y = module._check_data(params, X, Y)
    except ValueError as exc:
        raise SymPropError(f"--data: {exc}") from None
    if len(X) < minimum:
        raise SymPropError(
            f"--data: {len(X)} training sample(s); layers that couple the samples of a batch "
            f"need at least {minimum}"
        )


def split(
    X: np.ndarray, Y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random train/test split (test_fraction of the rows held out)."""
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    test, train = order[:n_test], order[n_test:]
    return X[train], Y[train], X[test], Y[test]


def _plot(path: str, losses: list[float], accuracies: list[float | None]) -> None:
    """Write the loss (and test accuracy) per epoch as an image, atomically; the suffix picks
    the format (.png, .pdf, .svg, ...)."""
    plt = _pyplot()
    epochs = range(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, losses, label="loss J (train)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if any(acc is not None for acc in accuracies):
        right = ax.twinx()
        right.plot(epochs, accuracies, color="tab:orange", label="accuracy (test)")
        right.set_ylabel("accuracy")
    ax.legend(loc="upper right")
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format=_plot_format(path), dpi=100)
    plt.close(fig)
    write_atomic(path, image.getvalue())


def _pyplot() -> ModuleType:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SymPropError("--plot needs matplotlib (pip install matplotlib)") from None
    return plt


def _plot_format(path: str) -> str:
    """The image format of the --plot path's suffix, one matplotlib writes."""
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in known:
        raise SymPropError(
            f"--plot: {shown_path(path)}: the suffix must name an image format, one of "
            + ", ".join(f".{name}" for name in sorted(known))
        )
    return suffix


@click.command("train")
@click.argument("spec", required=False)
@click.option(
    "--data",
    required=True,
    help="A .npz (arrays X and y) or .csv (targets last) file, or 'digits' (scikit-learn).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=0),
    default=None,
    help="Default: the spec's training.epochs.",
)
@click.option("--learning-rate", type=float, default=None, help="Default: the spec's.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Default: the spec's.")
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "momentum", "adam"]),
    default=None,
    help="Default: the spec's.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=None,
    help="Default: the spec's training.seed.",
)
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default=None)
@click.option(
    "--test-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Rows held out (seeded) to measure the test accuracy; 0 to train on everything.",
)
@click.option(
    "-o",
    "--module",
    "module_path",
    type=click.Path(dir_okay=False),
    help="Keep the generated module here.",
)
@click.option(
    "--save", type=click.Path(dir_okay=False), help="Write the trained parameters (.npz)."
)
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a loss/accuracy plot (PNG).")
@backend_option
def command(
    spec: str | None,
    data: str,
    epochs: int | None,
    learning_rate: float | None,
    batch_size: int | None,
    optimizer: str | None,
    seed: int | None,
    dtype: str | None,
    test_fraction: float,
    module_path: str | None,
    save: str | None,
    plot: str | None,
    backend: str,
) -> None:
    """Generate the module of SPEC, import it and train it on --data.

    Without SPEC, the built-in default digit classifier is used (try --data digits).
    Shows a progress bar, then the final loss and the train and test accuracy, and where
    every file is.
    """
    from tqdm import tqdm

    from symprop.codegen.numba.emit import import_compiled
    from symprop.codegen.numpy.emit import import_generated

    network: Network = load_spec(spec) if spec else default_network()
    tr = network.training
    settings: dict[str, Any] = {
        "epochs": tr.epochs if epochs is None else epochs,
        "learning_rate": tr.learning_rate if learning_rate is None else learning_rate,
        "batch_size": tr.batch_size if batch_size is None else batch_size,
        "optimizer": tr.optimizer if optimizer is None else optimizer,
        "momentum": tr.momentum,
        "seed": tr.seed if seed is None else seed,
    }
    if settings["optimizer"] != "momentum":
        settings["momentum"] = 0.0
    if not 0 <= test_fraction < 1:
        raise SymPropError(f"--test-fraction: got {test_fraction}; must be in [0, 1)")
    dtype = dtype or tr.dtype
    # Every output is checked before the training, so that a bad path loses no work.
    for path in (module_path, save, plot):
        if path:
            check_writable(path)
    if plot:
        _plot_format(plot)
    with private_folder("train") as tmp:
        target = Path(module_path) if module_path else tmp / f"{network.name}.py"
        label = spec or "the built-in default network"
        source = render_for(backend, network, spec=label, dtype=dtype)
        if module_path:  # the private folder is on no import path
            refuse_shadowing(target, source, "-o")
        write_atomic(target, source)
        try:
            if backend == "numba":  # under its file name, which Numba's cache records
                module = import_compiled(target)
            else:
                module = import_generated(target)
        except ImportError as exc:
            raise SymPropError(
                f"--backend {backend}: the module cannot import {exc.name} "
                "(pip install 'symprop[numba]')"
            ) from None
        X, Y = load_dataset(data, module)
        X_train, Y_train, X_test, Y_test = split(X, Y, test_fraction, settings["seed"])
        params = module.init_params(settings["seed"])
        _check_before_training(module, params, X_train, Y_train, settings, batch_size is None)
        if backend == "numba":  # compiled (or loaded from its cache) once, reported apart
            seconds = module.compile_kernels(params["W1"].dtype)
            click.echo(f"training code compiled in {seconds:.2f} s", err=True)
        accuracies: list[float | None] = []
        bar = tqdm(total=settings["epochs"], unit="epoch", desc=network.name, leave=False)

        def progress(epoch: int, value: float, current: dict[str, np.ndarray]) -> None:
            acc = module._accuracy(current, X_test, Y_test) if len(X_test) else None
            accuracies.append(acc)
            shown = {"loss": f"{value:.4f}"}
            if acc is not None:
                shown["test acc"] = f"{acc:.4f}"
            bar.set_postfix(shown)
            bar.update(1)

        try:
            history = module.train(params, X_train, Y_train, callback=progress, **settings)
        except ValueError as exc:
            raise SymPropError(str(exc)) from None
        finally:
            bar.close()
        train_acc = module._accuracy(params, X_train, Y_train)
        test_acc = module._accuracy(params, X_test, Y_test) if len(X_test) else None
        click.echo(
            f"{network.name}: {settings['epochs']} epochs, {settings['optimizer']}, "
            f"learning rate {settings['learning_rate']}, batch {settings['batch_size']}, {dtype}"
        )
        click.echo(f"final loss J = {history[-1]:.6f}" if history else "no epochs run")
        if train_acc is not None:
            click.echo(f"train accuracy {train_acc:.4f} ({len(X_train)} samples)")
        if test_acc is not None:
            click.echo(f"test accuracy  {test_acc:.4f} ({len(X_test)} samples)")
        if module_path:
            click.echo(f"module: {target}")
        if save:
            parameters = io.BytesIO()  # the format of the module's save(), which load() reads
            np.savez(parameters, **params)
            write_atomic(save, parameters.getvalue())
            click.echo(f"parameters: {save}")
        if plot:
            _plot(plot, history, accuracies)
            click.echo(f"plot: {plot}")
