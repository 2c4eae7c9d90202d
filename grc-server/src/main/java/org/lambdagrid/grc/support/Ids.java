package org.lambdagrid.grc.support;

import java.security.SecureRandom;
import java.util.function.Predicate;

/** The GRC's ids for jobs and reservations: a prefix, '-', then 8 random hex digits. */
public final class Ids {
  private static final SecureRandom RANDOM = new SecureRandom();

  private Ids() {}

  /** {@code prefix + "-xxxxxxxx"}, drawn again while {@code taken} says it is in use. */
  public static String fresh(String prefix, Predicate<String> taken) {
    while (true) {
      String id = String.format("%s-%08x", prefix, RANDOM.nextInt());
      if (!taken.test(id)) {
        return id;
      }
    }
  }
}
