/* mpi_init_time: when did every rank get past MPI_Init? (scripts/bench ready)
 * Each rank reads the wall clock (CLOCK_REALTIME, ms since the epoch) right after MPI_Init;
 * rank 0 prints the latest of them and the earliest:
 *   mpi_init ranks=N first_ms=T0 last_ms=T1
 * On one machine every guest shares the host's clock, so these compare with the submitting
 * client's clock. */
#include <mpi.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, first, last;
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Reduce(&ms, &first, 1, MPI_LONG_LONG, MPI_MIN, 0, MPI_COMM_WORLD);
  MPI_Reduce(&ms, &last, 1, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    printf("mpi_init ranks=%d first_ms=%lld last_ms=%lld\n", size, first, last);
  }
  MPI_Finalize();
  return 0;
}
