/* tsc: prints the time-stamp counter in decimal. The Linux guest's init prints it when the
 * shell starts, for the boot benchmark (under QEMU's -icount shift=0 it counts emulated
 * instructions since power-on). Static, no libc: gcc -static -nostdlib -O2. */
static void out(const char *s, long n)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(1), "D"(1), "S"(s), "d"(n) : "rcx", "r11",
                     "memory");
}

void _start(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    unsigned long t = (unsigned long)hi << 32 | lo;
    char buf[24];
    int i = sizeof buf;
    buf[--i] = '\n';
    do {
        buf[--i] = (char)('0' + t % 10);
        t /= 10;
    } while (t);
    out(buf + i, (long)sizeof buf - i);
    __asm__ volatile("syscall" :: "a"(60), "D"(0));     /* exit(0) */
    for (;;)
        ;
}
