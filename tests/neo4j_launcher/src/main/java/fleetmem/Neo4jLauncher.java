package fleetmem;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Runs an embedded Neo4j Community DBMS with a Bolt connector on 127.0.0.1:PORT (no auth).
 *
 * <p>Usage: {@code java -cp ... fleetmem.Neo4jLauncher DATA_DIR PORT}
 *
 * <p>Protocol with the parent process (tests/support/neo4j_server.py):
 * <ul>
 *   <li>once the default database is available, exactly one line
 *       {@code READY bolt://127.0.0.1:PORT} is printed to stdout;</li>
 *   <li>stdin is read until EOF from the very start; EOF (the parent closed the pipe or
 *       died) shuts the DBMS down cleanly and exits 0, so the JVM never outlives its
 *       parent. SIGTERM/SIGINT do the same.</li>
 * </ul>
 * Diagnostics go to stderr; Neo4j's own logs go to DATA_DIR/logs.
 */
public final class Neo4jLauncher {
    private static final Object LOCK = new Object();
    private static DatabaseManagementService dbms;
    private static boolean stopped;

    private Neo4jLauncher() {}

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: fleetmem.Neo4jLauncher DATA_DIR PORT");
            System.exit(2);
        }
        Path dataDir = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);

        // Safety net for any JVM exit path (SIGHUP, System.exit elsewhere, ...).
        Runtime.getRuntime().addShutdownHook(new Thread(Neo4jLauncher::shutdown, "neo4j-launcher-shutdown"));
        installSignalHandlers();
        Thread stdinWatcher = new Thread(() -> {
            waitForEof(System.in);
            stopAndExit("stdin closed");
        }, "neo4j-launcher-stdin");
        stdinWatcher.setDaemon(true);
        stdinWatcher.start();

        try {
            long t0 = System.nanoTime();
            DatabaseManagementService service = new DatabaseManagementServiceBuilder(dataDir)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    // No server-side routing listener (it would bind a second, fixed port: 7688).
                    .setConfig(GraphDatabaseSettings.routing_enabled, false)
                    .setConfig(GraphDatabaseSettings.auth_enabled, false)
                    .setConfig(GraphDatabaseSettings.udc_enabled, false)
                    .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                    // Bolt's shutdown otherwise idles 2 x 5 s even with no client connected; these
                    // internal settings (pinned Neo4j version) bring a clean stop down to ~2 s.
                    .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                    .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                    // GraphDatabaseSettings.transaction_timeout is left at its default: no timeout.
                    .build();
            boolean stopRequested;
            synchronized (LOCK) {
                dbms = service;
                stopRequested = stopped; // EOF or a signal arrived while starting
            }
            if (stopRequested) {
                shutdown();
                System.exit(0); // never while holding LOCK: the shutdown hook needs it
            }

            GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
            while (!db.isAvailable(TimeUnit.SECONDS.toMillis(5))) {
                System.err.println("neo4j-launcher: waiting for database " + db.databaseName() + " to become available");
            }
            System.err.printf("neo4j-launcher: Neo4j started in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            System.out.println("READY bolt://127.0.0.1:" + port);
            System.out.flush();
        } catch (Throwable e) {
            System.err.println("neo4j-launcher: failed to start Neo4j");
            e.printStackTrace();
            shutdown();
            Runtime.getRuntime().halt(1);
        }

        try {
            stdinWatcher.join(); // it ends the JVM via stopAndExit
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        stopAndExit("interrupted");
    }

    private static void waitForEof(InputStream in) {
        byte[] buf = new byte[256];
        try {
            while (in.read(buf) != -1) {
                // Input is ignored; only EOF matters.
            }
        } catch (IOException e) {
            System.err.println("neo4j-launcher: stdin error (" + e + ")");
        }
    }

    private static void stopAndExit(String why) {
        System.err.println("neo4j-launcher: " + why + ", shutting down");
        synchronized (LOCK) {
            if (dbms == null && !stopped) {
                // Still inside build(): main shuts the new DBMS down as soon as it exists
                // (better than abandoning a half-opened store).
                stopped = true;
                return;
            }
        }
        shutdown();
        System.exit(0);
    }

    /** Idempotent clean shutdown, callable from any thread. */
    private static void shutdown() {
        synchronized (LOCK) {
            DatabaseManagementService service = dbms;
            dbms = null;
            stopped = true;
            if (service != null) {
                try {
                    service.shutdown();
                    System.err.println("neo4j-launcher: Neo4j stopped");
                } catch (RuntimeException e) {
                    System.err.println("neo4j-launcher: error during shutdown: " + e);
                }
            }
        }
    }

    /** SIGTERM/SIGINT: clean shutdown and exit status 0 (the JVM default would be 143/130). */
    @SuppressWarnings("removal")
    private static void installSignalHandlers() {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> stopAndExit("SIG" + name + " received"));
            } catch (Throwable e) { // not available on this JVM: the shutdown hook still stops Neo4j
                System.err.println("neo4j-launcher: cannot handle SIG" + name + ": " + e);
            }
        }
    }
}
