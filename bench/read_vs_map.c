/*
 * Reading a pcap file with read() into a reused 4 MiB buffer against mapping it in 4 MiB
 * windows, each followed by the same record walk (one byte of every packet is touched, as
 * the reader touches each record's header). Measures what teardown's serial reader
 * would gain from a memory map instead of its chunked read() (BENCHMARKS.md, stop 24).
 *
 *   gcc -O2 -o /tmp/read_vs_map bench/read_vs_map.c
 *   cat capture.pcap >/dev/null        # into the page cache
 *   /tmp/read_vs_map capture.pcap read
 *   /tmp/read_vs_map capture.pcap map  # or: populate (MAP_POPULATE), willneed
 *
 * Classic pcap in the machine's byte order only; a benchmark, not a reader.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WINDOW (4u << 20)
#define FILE_HEADER 24
#define RECORD_HEADER 16

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint32_t caplen(const unsigned char *record) {
  uint32_t v;
  memcpy(&v, record + 8, 4);
  return v;
}

/* Walks the whole records in buf[*at, have); returns the packets seen. */
static uint64_t walk(const unsigned char *buf, size_t *at, size_t have, uint64_t *sum) {
  uint64_t packets = 0;
  while (*at + RECORD_HEADER <= have) {
    uint32_t len = caplen(buf + *at);
    if (*at + RECORD_HEADER + len > have) break;
    *sum += buf[*at + RECORD_HEADER];
    packets++;
    *at += RECORD_HEADER + len;
  }
  return packets;
}

static uint64_t by_read(int fd, uint64_t *sum) {
  unsigned char *buf = malloc(WINDOW);
  size_t have = 0, at = 0;
  uint64_t packets = 0;
  if (!buf || read(fd, buf, FILE_HEADER) != FILE_HEADER) return 0;
  for (;;) {
    memmove(buf, buf + at, have - at);
    have -= at;
    at = 0;
    size_t got = 0;
    ssize_t r;
    while (have < WINDOW && (r = read(fd, buf + have, WINDOW - have)) > 0) {
      have += (size_t)r;
      got += (size_t)r;
    }
    packets += walk(buf, &at, have, sum);
    if (got == 0) break;
  }
  free(buf);
  return packets;
}

static uint64_t by_map(int fd, size_t size, int flags, int advice, uint64_t *sum) {
  uint64_t packets = 0;
  size_t pos = FILE_HEADER;
  while (pos + RECORD_HEADER <= size) {
    size_t start = pos & ~(size_t)4095;
    size_t len = size - start < WINDOW ? size - start : WINDOW;
    unsigned char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | flags, fd, (off_t)start);
    if (m == MAP_FAILED) return packets;
    if (advice) madvise(m, len, advice);
    size_t at = pos - start;
    uint64_t n = walk(m, &at, len, sum);
    munmap(m, len);
    if (n == 0) break; /* a record longer than a window, or the end */
    packets += n;
    pos = start + at;
  }
  return packets;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CAPTURE.pcap read|map|populate|willneed\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  const char *how = argv[2];
  uint64_t sum = 0, packets;
  double t0 = now();
  if (!strcmp(how, "read")) packets = by_read(fd, &sum);
  else if (!strcmp(how, "map")) packets = by_map(fd, (size_t)st.st_size, 0, 0, &sum);
  else if (!strcmp(how, "populate")) packets = by_map(fd, (size_t)st.st_size, MAP_POPULATE, 0, &sum);
  else if (!strcmp(how, "willneed")) packets = by_map(fd, (size_t)st.st_size, 0, MADV_WILLNEED, &sum);
  else {
    fprintf(stderr, "unknown mode %s\n", how);
    return 2;
  }
  printf("%s: %.3f s, %llu packets (checksum %llu)\n", how, now() - t0,
         (unsigned long long)packets, (unsigned long long)sum);
  return 0;
}
