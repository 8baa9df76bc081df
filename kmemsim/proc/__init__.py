"""The /proc (and debugfs) files kmemsim prints, one module per file, each named after the
kernel's show function."""

from kmemsim.proc.buddyinfo import frag_show
from kmemsim.proc.meminfo import meminfo_show
from kmemsim.proc.pagetypeinfo import pagetypeinfo_show
from kmemsim.proc.vmstat import vmstat_show
from kmemsim.proc.zoneinfo import zoneinfo_show

__all__ = ["REPORTS"]

# file name -> function of a booted Kernel returning the file's text
REPORTS = {
    "buddyinfo": frag_show,
    "pagetypeinfo": pagetypeinfo_show,
    "zoneinfo": zoneinfo_show,
    "vmstat": vmstat_show,
    "meminfo": meminfo_show,
}
