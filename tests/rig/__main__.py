"""Boot Keel by hand through the rig and print the serial log:
    /usr/bin/python3 tests/rig qemu  [--smp N] [--boot kernel|iso] [--append S] [-m PATH ARGS]...
    /usr/bin/python3 tests/rig bochs [--model corei7_skylake_x|ryzen] [--smp N] [--append S] ...
(builds nothing: run make first). Exit status 0 if Keel powered off with status 0."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rig  # noqa: E402


def main():
    ap = argparse.ArgumentParser(prog="tests/rig", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("emulator", choices=["qemu", "bochs"])
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--boot", choices=["kernel", "iso"], default="kernel", help="qemu only")
    ap.add_argument("--model", choices=rig.MODELS, default="corei7_skylake_x", help="bochs only")
    ap.add_argument("--append", default="poweroff noshell")
    ap.add_argument("-m", "--module", nargs=2, action="append", default=[],
                    metavar=("PATH", "ARGS"))
    ap.add_argument("--kernel", default=None)
    ap.add_argument("--timeout", type=float, default=None)
    ap.add_argument("--icount", action="store_true", help="qemu only")
    a = ap.parse_args()
    mods = [tuple(m) for m in a.module]
    if a.emulator == "qemu":
        r = rig.run_qemu(append=a.append, modules=mods, smp=a.smp, boot=a.boot,
                         timeout=a.timeout or 60, icount=a.icount, kernel=a.kernel)
    else:
        r = rig.run_bochs(model=a.model, cpus=a.smp, append=a.append, modules=mods,
                          timeout=a.timeout or 180, kernel=a.kernel)
    sys.stdout.write(r.output)
    print("\n--- %s: exit %s, timed out %s, status %s, %.2fs" % (r.emulator, r.exit_code,
                                                              r.timed_out, r.status, r.wall))
    return 0 if r.status == 0 and not r.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())
