/*
 * hbeatd's defaults, each written once. The option table (options.c)
 * quotes them as text for parsing and --help, so they stay plain
 * literals; a front end given 0 for a limit takes the same value.
 */
#ifndef HBD_DEFAULTS_H
#define HBD_DEFAULTS_H

#define HBD_DEFAULT_LISTEN             "tcp://127.0.0.1:7781"
#define HBD_DEFAULT_HTTP               "127.0.0.1:7780"
#define HBD_DEFAULT_DB                 "./hbeatd.db"
#define HBD_DEFAULT_LOG_LEVEL          "info"
#define HBD_DEFAULT_REAP_INTERVAL      10
#define HBD_DEFAULT_MAX_REQUEST        65536
#define HBD_DEFAULT_MAX_CONNECTIONS    1024
#define HBD_DEFAULT_MAX_CONNECTIONS_IP 256
#define HBD_DEFAULT_READ_TIMEOUT       30
#define HBD_DEFAULT_MIN_REQUEST_RATE   500
#define HBD_DEFAULT_GRPC               "none"
#define HBD_DEFAULT_GRPC_MAX_CALLS     1024
#define HBD_DEFAULT_DB_TIMEOUT         5

#endif /* HBD_DEFAULTS_H */
