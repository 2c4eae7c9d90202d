/* mpi_pingpong: MPI point-to-point latency and bandwidth between ranks 0 and 1 (lambdagrid
 * benchmark, issue 8). Message sizes 0 B .. 1 MiB (powers of two); for each size a warm-up,
 * then ITERS round trips (fewer for large messages), each timed. Prints one line per size:
 *   size=BYTES iters=N latency_us=MEDIAN min_us=MIN bandwidth_MBps=BYTES/MEDIAN
 * with one-way time = round trip / 2 (median over the round trips, robust on a loaded, shared
 * machine; min = best case), plus the host names of both ranks. Build and run:
 *   mpicc -O2 -o mpi_pingpong scripts/examples/mpi_pingpong.c
 *   mpirun -np 2 ./mpi_pingpong [iters=1000]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZE (1 << 20)

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int rank, size, len;
  char name[MPI_MAX_PROCESSOR_NAME], peer[MPI_MAX_PROCESSOR_NAME];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    if (rank == 0) fprintf(stderr, "mpi_pingpong: needs 2 ranks\n");
    MPI_Finalize();
    return 1;
  }
  int base_iters = argc > 1 ? atoi(argv[1]) : 1000;
  MPI_Get_processor_name(name, &len);
  if (rank == 0) {
    MPI_Recv(peer, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("pingpong: rank 0 on %s, rank 1 on %s\n", name, peer);
  } else if (rank == 1) {
    MPI_Send(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, 9, MPI_COMM_WORLD);
  }
  char *buf = malloc(MAX_SIZE);
  double *rt = malloc(sizeof(double) * (base_iters > 10 ? base_iters : 10));
  memset(buf, 1, MAX_SIZE);
  for (int bytes = 0; bytes <= MAX_SIZE; bytes = bytes ? bytes * 2 : 1) {
    int iters = bytes >= 65536 ? base_iters / 10 : base_iters;
    if (iters < 10) iters = 10;
    int warm = iters / 10 + 1;
    MPI_Barrier(MPI_COMM_WORLD);
    for (int i = 0; i < warm + iters; i++) {
      double t0 = MPI_Wtime();
      if (rank == 0) {
        MPI_Send(buf, bytes, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
        MPI_Recv(buf, bytes, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else if (rank == 1) {
        MPI_Recv(buf, bytes, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buf, bytes, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
      }
      if (i >= warm) rt[i - warm] = (MPI_Wtime() - t0) / 2;
    }
    if (rank == 0) {
      qsort(rt, iters, sizeof(double), cmp);
      double one_way = rt[iters / 2];
      printf("size=%d iters=%d latency_us=%.2f min_us=%.2f bandwidth_MBps=%.1f\n", bytes, iters,
             one_way * 1e6, rt[0] * 1e6, bytes / one_way / 1e6);
      fflush(stdout);
    }
  }
  free(buf);
  free(rt);
  MPI_Finalize();
  return 0;
}
