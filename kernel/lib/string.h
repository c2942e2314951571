/* Minimal C string/memory functions with the standard names and signatures.
 * The kernel links kernel/lib/string.c; host unit tests use libc's. */
#ifndef KEEL_LIB_STRING_H
#define KEEL_LIB_STRING_H

#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

#endif
