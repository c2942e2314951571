#!/usr/bin/python3
"""Builds the Linux guest's initramfs: a gzipped cpio (newc) archive with a static busybox, its
init (busybox init with the inittab here) and the device nodes a console needs. Written directly,
so that building it needs neither root (for mknod) nor the cpio tool.

usage: mkinitramfs.py BUSYBOX OUT.cpio.gz [TSC]   (TSC: tests/linux/tsc.c built, for `make bench`)
"""
import gzip
import os
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

INITTAB = """\
::sysinit:/etc/init.d/rcS
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
"""

RCS = """\
#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "linux-guest: init done, $(nproc) cpu(s)"
"""

PROFILE = """\
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='linux# '
[ -x /bin/tsc ] && echo "linux-guest: shell starts at tsc $(/bin/tsc)"
"""


class Cpio:
    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def add(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
        self.ino += 1
        self.out += hdr.encode() + name_b
        self.pad()
        self.out += data
        self.pad()

    def pad(self):
        self.out += b"\0" * (-len(self.out) % 4)

    def finish(self):
        self.add("TRAILER!!!", 0)
        return bytes(self.out)


def main():
    busybox, out = sys.argv[1], sys.argv[2]
    c = Cpio()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "etc/init.d", "proc", "sys",
              "dev", "tmp", "root"):
        c.add(d, stat.S_IFDIR | 0o755)
    c.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    c.add("dev/ttyS0", stat.S_IFCHR | 0o600, rdev=(4, 64))
    c.add("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
    with open(busybox, "rb") as f:
        c.add("bin/busybox", stat.S_IFREG | 0o755, f.read())
    if len(sys.argv) > 3:
        with open(sys.argv[3], "rb") as f:
            c.add("bin/tsc", stat.S_IFREG | 0o755, f.read())
    for link in ("init", "bin/sh", "sbin/init"):
        c.add(link, stat.S_IFLNK | 0o777, b"/bin/busybox")
    c.add("etc/inittab", stat.S_IFREG | 0o644, INITTAB.encode())
    c.add("etc/init.d/rcS", stat.S_IFREG | 0o755, RCS.encode())
    c.add("etc/profile", stat.S_IFREG | 0o644, PROFILE.encode())
    data = gzip.compress(c.finish(), 9, mtime=0)
    with open(out + ".tmp", "wb") as f:
        f.write(data)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
