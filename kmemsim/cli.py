"""The ``kmemsim`` command: parse the command line, call the library, print what it returns.

Every user mistake ends in one line on stderr (``kmemsim: error: ...``) and exit status 1 (2 for
a malformed command line); never a traceback.
"""

from __future__ import annotations

import sys

import click

from kmemsim import jit
from kmemsim.errors import KmemsimError

__all__ = ["main", "cli"]

DEFAULT_SHOW = "buddyinfo,pagetypeinfo"
# click 8.2 names it NoArgsIsHelpError; older releases raised a UsageError subclass
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


DEBUGFS_EXTFRAG = ("extfrag_index", "unusable_index")      # files of debugfs, not /proc


def _machine_options(f):
    f = click.option("--machine", "-m", default="x86_64", show_default=True,
                     help="A preset (see 'kmemsim machines') or a TOML machine file.")(f)
    f = click.option("--mem", default=None, help="Memory size for presets that take one "
                     "(1G, 4G, 64G ...).")(f)
    f = click.option("--cpus", type=int, default=None, help="Number of CPUs.")(f)
    f = click.option("--nodes", type=int, default=None, help="NUMA nodes (numa preset).")(f)
    f = click.option("--cma", default=None, help="A CMA area of this size (x86_64, numa: "
                     "CONFIG_CMA and cma= on the kernel command line), e.g. 64M.")(f)
    f = click.option("--swap", default=None, help="A swap device of this size (e.g. 256M); "
                     "without one, anonymous and tmpfs pages cannot be reclaimed.")(f)
    f = click.option("--slab/--no-slab", default=None,
                     help="--no-slab: boot without kmem_cache_init, nothing allocated at boot "
                     "(default: the machine's 'slab' key, true for every preset).")(f)
    f = click.option("--mode", type=click.Choice(jit.MODES), default=None,
                     help="Run kernel functions as plain Python or compiled by numba "
                     "(default: $KMEMSIM_MODE, else python).")(f)
    return f


def _boot(machine, mem, cpus, nodes, cma, mode, swap=None, slab=None):
    from kmemsim.kernel import boot
    return boot(machine, mem=mem, cpus=cpus, nodes=nodes, cma=cma, swap=swap,
                mode=mode or jit.default_mode(), slab=slab)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__import__("kmemsim").__version__, prog_name="kmemsim")
def cli():
    """kmemsim: the Linux 3.13 physical memory allocator, made executable.

    Start with:  kmemsim boot --machine x86_64 --mem 1G
    """


@cli.command()
@_machine_options
@click.option("--show", default=DEFAULT_SHOW, show_default=True,
              help="Comma-separated /proc files to print after boot (or 'none').")
@click.option("--dmesg/--no-dmesg", default=True, show_default=True,
              help="Print the boot messages of the allocator.")
def boot(machine, mem, cpus, nodes, cma, swap, slab, mode, show, dmesg):
    """Boot a machine the way Linux 3.13 does and print what the allocator looks like."""
    from kmemsim.kernel import report_names
    names = [] if show == "none" else [s.strip() for s in show.split(",") if s.strip()]
    for name in names:
        if name not in report_names():
            raise KmemsimError(f"--show {name}: unknown file: use one of "
                               f"{', '.join(report_names())}")
    k = _boot(machine, mem, cpus, nodes, cma, mode, swap, slab)
    out = []
    if dmesg:
        out.append(f"# {k.machine.name}: {k.machine.description}\n")
        out.extend(line + "\n" for line in k.dmesg)
    for name in names:
        if out:
            out.append("\n")
        out.append("# sysctl vm\n" if name == "sysctl" else
                   f"# /sys/kernel/debug/extfrag/{name}\n" if name in DEBUGFS_EXTFRAG else
                   f"# /proc/{name}\n")
        out.append(k.show(name))
    click.echo("".join(out), nl=False)


@cli.command()
@click.argument("script", type=click.Path(dir_okay=False, allow_dash=True))
@_machine_options
@click.option("--check", is_flag=True, help="Run the validators after every operation.")
@click.option("--dmesg", is_flag=True, help="Print the kernel log lines each operation writes "
              "(OOM reports, page allocation failures) where they happen.")
@click.option("--trace", "trace_file", default=None, type=click.Path(dir_okay=False),
              help="Write the kernel's trace of the script (ftrace text, as 3.13's "
              "/sys/kernel/debug/tracing/trace) to this file.")
@click.option("--events", default="kmem:*,compaction:*,vmscan:*", show_default=True,
              help="The tracepoints --trace records, as set_event takes them.")
def run(script, machine, mem, cpus, nodes, cma, swap, slab, mode, check, dmesg, trace_file,
        events):
    """Run a script of allocator operations (see docs/scripts.md)."""
    from kmemsim.script import parse_script, run_ops
    from kmemsim.trace.events import events_matching
    where = "<stdin>" if script == "-" else script
    try:
        text = sys.stdin.read() if script == "-" else open(script).read()
    except OSError as e:
        raise KmemsimError(f"{script}: cannot read the script: {e.strerror}") from None
    ops = parse_script(text, where)
    events_matching(events)                        # a bad --events fails before the boot
    k = _boot(machine, mem, cpus, nodes, cma, mode, swap, slab)
    if trace_file is not None:
        k.trace_start(events)
    for chunk in run_ops(k, ops, check=check, where=where, dmesg=dmesg):
        click.echo(chunk, nl=False)
    if trace_file is not None:
        try:
            with open(trace_file, "w") as f:
                f.write(k.tracer.text())
        except OSError as e:
            raise KmemsimError(f"--trace {trace_file}: cannot write: {e.strerror}") from None


@cli.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@_machine_options
@click.option("--follow", is_flag=True, help="Keep the model in step with the trace and report "
              "how often it chose the kernel's own block, per allocation path.")
@click.option("--strict", is_flag=True, help="Stop at the first unreadable line.")
@click.option("--progress/--no-progress", default=None,
              help="Show progress on stderr (default: when stderr is a terminal).")
def replay(trace, machine, mem, cpus, nodes, cma, swap, slab, mode, follow, strict, progress):
    """Replay a kernel's kmem page trace (ftrace text, .xz too) through the model."""
    from kmemsim.trace import replay as rp
    from kmemsim.trace.scan import scan_file
    t = rp.build_ops(scan_file(trace, strict=strict), trace)
    k = _boot(machine, mem, cpus, nodes, cma, mode, swap, slab)
    if follow:
        click.echo(rp.render_follow(k, t, rp.follow(k, t, progress), trace), nl=False)
    else:
        click.echo(rp.render_replay(k, t, rp.replay(k, t, progress), trace), nl=False)


@cli.command("trace-report")
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="Stop at the first line that is not an event.")
def trace_report(trace, strict):
    """Summarise a kmem trace (ftrace text of 3.x or current kernels, .xz too) per process."""
    from kmemsim.trace.ftrace import parse_file
    from kmemsim.trace.report import render
    click.echo(render(parse_file(trace, strict=strict), trace), nl=False)


@cli.command()
@click.argument("script", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@_machine_options
@click.option("--boot", "boot_", is_flag=True, help="Explain the boot stages instead of a script.")
@click.option("--functions", default=None, metavar="PATTERN",
              help="Only the calls of these functions and what they call: names or fnmatch "
              "patterns, comma separated ('kmem_cache_init*,__rmqueue').")
@click.option("--depth", type=int, default=None, help="Levels shown below each selected call.")
@click.option("--repeat", type=int, default=1, show_default=True,
              help="Calls of one function expanded under one caller; later ones are counted.")
@click.option("--helpers", is_flag=True, help="Show list.h, page flag and accessor calls too.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text",
              show_default=True)
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True,
              help="Language of the explanatory words (kernel names stay as they are).")
def explain(script, machine, mem, cpus, nodes, cma, swap, slab, mode, boot_, functions, depth,
            repeat, helpers, fmt, lang):
    """Run a script (or --boot) and print the kernel functions it called, their decoded
    arguments and return values, and the free-list changes each made (docs/explain.md)."""
    from kmemsim.trace.explain import explain as run_explain
    if mode == "compiled":
        raise KmemsimError("explain traces kernel functions as Python: --mode compiled "
                           "cannot be traced")
    text = sys.stdin.read() if script == "-" else None
    click.echo(run_explain("<stdin>" if script == "-" else script, text, boot_, machine, mem,
                           cpus, nodes, cma, swap, slab, functions, depth, repeat, helpers,
                           fmt, lang), nl=False)


@cli.command()
@click.option("--dump", "dump", default=None, metavar="NAME",
              help="Print a preset as a TOML machine file, ready to edit.")
@click.option("--mem", default=None, help="With --dump: the memory size of the preset.")
@click.option("--cpus", type=int, default=None, help="With --dump: the number of CPUs.")
@click.option("--nodes", type=int, default=None, help="With --dump: NUMA nodes.")
def machines(dump, mem, cpus, nodes):
    """List the built-in machines (or --dump one as TOML)."""
    from kmemsim.machine import dump_toml
    from kmemsim.presets import PRESETS, get_machine
    if dump:
        click.echo(dump_toml(get_machine(dump, mem=mem, cpus=cpus, nodes=nodes)), nl=False)
        return
    width = max(len(n) for n in PRESETS)
    for name, p in PRESETS.items():
        click.echo(f"{name:<{width}}  {p.summary}")


@cli.command()
@click.argument("expression", required=False)
@click.option("--list", "list_", is_flag=True, help="List every GFP name kmemsim knows.")
def gfp(expression, list_):
    """Decode a GFP mask: 'kmemsim gfp 0x201200' or 'kmemsim gfp GFP_KERNEL|__GFP_COMP'."""
    from kmemsim.mm.gfp import GFP_NAMES, format_gfp, parse_gfp, show_gfp_flags
    if list_:
        for name, value in sorted(GFP_NAMES.items(), key=lambda kv: (kv[1], kv[0])):
            click.echo(f"{value:#9x}  {name}")
        return
    if expression is None:
        raise KmemsimError("gfp: give a mask (GFP_KERNEL, 0xd0, ...) or --list")
    value = parse_gfp(expression)
    click.echo(f"{format_gfp(value)}  trace spelling: {show_gfp_flags(value)}")


def main(argv=None) -> int:
    try:
        cli.main(args=argv, prog_name="kmemsim", standalone_mode=False)
    except KmemsimError as e:
        click.echo(f"kmemsim: error: {e}", err=True)
        return 1
    except _NO_ARGS_IS_HELP as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        return 0
    except click.UsageError as e:
        hint = f" (see 'kmemsim {e.ctx.info_name} --help')" if e.ctx and e.ctx.parent else \
            " (see 'kmemsim --help')"
        click.echo(f"kmemsim: error: {e.format_message()}{hint}", err=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        click.echo("kmemsim: aborted", err=True)
        return 1
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
