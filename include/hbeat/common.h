/**
 * @file common.h
 * @brief Export macro and version information shared by every hbeat header.
 */
#ifndef HBEAT_COMMON_H
#define HBEAT_COMMON_H

#include "hbeat/version.h"

#if defined(_WIN32) && defined(HBEAT_BUILDING)
#define HBEAT_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define HBEAT_API __attribute__((visibility("default")))
#else
#define HBEAT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief The library's version as "MAJOR.MINOR.PATCH".
 *
 * Returns a static string owned by the library; it may differ from
 * HBEAT_VERSION_STRING when the program was built against other headers.
 */
HBEAT_API const char *hbeat_version(void);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_COMMON_H */
