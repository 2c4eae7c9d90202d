package org.lambdagrid.common;

import java.util.regex.Pattern;

/** The names a job's spec gives the host: the login it runs as and its environment variables. */
public final class PosixNames {
  /** A login name as useradd takes it: up to 32 characters, an optional trailing '$'. */
  public static final Pattern LOGIN = Pattern.compile("[a-z_][a-z0-9_.-]{0,31}\\$?");
  /** An environment variable name: a letter or '_', then letters, digits and '_'. */
  public static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  private PosixNames() {}
}
