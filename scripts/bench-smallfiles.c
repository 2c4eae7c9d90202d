/* bench-smallfiles DIR [COUNT=2000] [SIZE=4096]: small-file I/O timing for scripts/bench (issue 8).
 * In DIR/lgb-smallfiles.PID: creates COUNT files of SIZE bytes (open O_CREAT|O_EXCL, write,
 * close), reads them all back, deletes them; prints the wall time of each phase:
 *   create_ms=T read_ms=T delete_ms=T total_ms=T
 * No fsync: this measures the file system's metadata and page-cache path, as a job's small
 * temporary files would use it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: bench-smallfiles DIR [COUNT] [SIZE]\n"); return 2; }
  int count = argc > 2 ? atoi(argv[2]) : 2000, size = argc > 3 ? atoi(argv[3]) : 4096;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/lgb-smallfiles.%d", argv[1], (int)getpid());
  if (mkdir(dir, 0700) != 0) { perror(dir); return 1; }
  char *buf = malloc(size);
  memset(buf, 'x', size);
  double t0 = now_ms();
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, buf, size) != size) { perror(path); return 1; }
    close(fd);
  }
  double t1 = now_ms();
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    int fd = open(path, O_RDONLY);
    if (fd < 0 || read(fd, buf, size) != size) { perror(path); return 1; }
    close(fd);
  }
  double t2 = now_ms();
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    if (unlink(path) != 0) { perror(path); return 1; }
  }
  rmdir(dir);
  double t3 = now_ms();
  printf("create_ms=%.1f read_ms=%.1f delete_ms=%.1f total_ms=%.1f\n", t1 - t0, t2 - t1, t3 - t2,
         t3 - t0);
  return 0;
}
