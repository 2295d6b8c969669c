"""Console scripts: ``basicsr`` (BasicSR's train/test pipelines, plugin loaded) and ``hinas``.

``basicsr train -opt X.yml`` runs BasicSR's own ``train_pipeline`` with experiments/, results/ and
tb_logger/ under the current directory, after checking the options so that a bad file, an unknown
``type:`` or an impossible ``num_gpu`` ends in one line and a non-zero exit, with nothing written.

For a distributed run on this CPU (gloo) or on GPUs (NCCL)::

    torchrun --nproc_per_node 2 -m hinas_basicsr.cli train -opt X.yml --launcher pytorch
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence

import hinas_basicsr  # noqa: F401  (repairs and registers before BasicSR is used)
from hinas_basicsr import commands
from hinas_basicsr.tools.options_check import check_options, check_resume
from hinas_basicsr.tools.sample_data import prepare_sample_data

# Exceptions that mean "the user's input is wrong": printed as one line, never as a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, KeyError)


def _add_basicsr_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of BasicSR's own train.py / test.py (``basicsr.utils.options.parse_options``)."""
    parser.add_argument('-opt', required=True, help='Path to option YAML file.')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--auto_resume', action='store_true', help='resume from the latest training state')
    parser.add_argument('--debug', action='store_true', help='debug mode (name prefixed with debug_)')
    parser.add_argument('--local_rank', type=int, default=0)
    parser.add_argument('--force_yml', nargs='+', default=None, help='e.g. train:ema_decay=0.999')


def _basicsr_argv(args: argparse.Namespace) -> list[str]:
    argv = ['basicsr', '-opt', args.opt, '--launcher', args.launcher, '--local_rank', str(args.local_rank)]
    argv += ['--auto_resume'] * args.auto_resume + ['--debug'] * args.debug
    if args.force_yml:
        argv += ['--force_yml', *args.force_yml]
    return argv


def run_pipeline(args: argparse.Namespace) -> int:
    """Check the options, then run BasicSR's train or test pipeline from the current directory."""
    is_train = args.command == 'train'
    opt = check_options(args.opt, is_train=is_train, launcher=args.launcher)
    if is_train:
        check_resume(args.opt, opt, args.auto_resume, args.debug)
    prepare_sample_data(args.opt, opt)
    import basicsr.test
    import basicsr.train

    sys.argv = _basicsr_argv(args)
    if is_train:
        basicsr.train.train_pipeline(os.getcwd())
    else:
        basicsr.test.test_pipeline(os.getcwd())
    _close_process_group()
    return 0


def _close_process_group() -> None:
    """Under a launcher, wait for every rank (rank 0 validates alone after the loop), then tear the group down.

    A gloo group left to the interpreter's exit can abort the rank that leaves first ("terminate called without an
    active exception", SIGABRT) while rank 0 is still validating.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def error_message(err: BaseException) -> str:
    """The one line a user error prints: its message, or ``FILE: reason`` for an OS error (no ``[Errno N]``)."""
    if isinstance(err, OSError) and err.errno is not None and err.filename is not None:
        return f'{err.filename}: {err.strerror or err}'
    message = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
    if 'Original Traceback' in message:  # re-raised from a DataLoader worker: its last line is the error
        message = message.strip().splitlines()[-1].split(': ', 1)[-1]
    lines = [' '.join(line.split()) for line in message.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def run_guarded(prog: str, func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``func(args)``, with a user error printed as one line (exit 2) and Ctrl-C as one line (exit 130).

    ``HINAS_DEBUG=1`` lets the exception through, with its traceback.
    """
    try:
        return func(args)
    except KeyboardInterrupt:
        if os.environ.get('HINAS_DEBUG'):
            raise
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if os.environ.get('HINAS_DEBUG'):
            raise
        print(f'{prog}: error: {error_message(err)}', file=sys.stderr)
        return 2
    except OSError as err:  # an output path that cannot be written (permissions, full disk, ...)
        if os.environ.get('HINAS_DEBUG') or err.filename is None:
            raise
        print(f'{prog}: error: {error_message(err)}', file=sys.stderr)
        return 2


def basicsr_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``basicsr`` console script."""
    parser = argparse.ArgumentParser(prog='basicsr', description='BasicSR train/test with the HiNAS plugin loaded.')
    sub = parser.add_subparsers(dest='command', required=True, metavar='{train,test}')
    for name, help_text in (('train', 'train a model (BasicSR train.py)'), ('test', 'test a model (BasicSR test.py)')):
        _add_basicsr_flags(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    return run_guarded('basicsr', run_pipeline, args)


def _discover_commands() -> dict[str, object]:
    """``hinas`` subcommands: every module in :mod:`hinas_basicsr.commands` (``export_onnx`` -> ``export-onnx``).

    A command module has a docstring (its help), ``add_arguments(parser)`` and ``run(args) -> int``.
    """
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith('_'):
            found[info.name.replace('_', '-')] = importlib.import_module(f'{commands.__name__}.{info.name}')
    return found


def renamed_flag(command: str, argv: Sequence[str], renamed: dict[str, str]) -> str | None:
    """The one-line error for a flag of an earlier release in ``argv`` (``renamed``: old flag -> new spelling)."""
    for token in argv:
        flag = token.split('=', 1)[0]
        if flag in renamed:
            return f'hinas {command}: error: {flag} was renamed: use {renamed[flag]} (see hinas {command} --help)'
    return None


def hinas_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hinas`` console script."""
    parser = argparse.ArgumentParser(prog='hinas', description='HiNAS jobs: demo, compare, export, ...')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    found = _discover_commands()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((token for token in argv if not token.startswith('-')), None)
    if command in found:
        error = renamed_flag(command, argv[argv.index(command) + 1:], getattr(found[command], 'RENAMED_FLAGS', {}))
        if error:
            print(error, file=sys.stderr)
            return 2
    for name, module in sorted(found.items()):
        help_text = (module.__doc__ or name).strip().splitlines()[0]
        cmd = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.run)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return run_guarded('hinas', args.func, args)


if __name__ == '__main__':
    sys.exit(basicsr_main())
