# Warning flags for the project's own targets (not for generated code).
set(HBEAT_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wformat=2
    -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter)
if(HBEAT_WERROR)
  list(APPEND HBEAT_WARNING_FLAGS -Werror)
endif()

# hbeat_warnings(target...): turn the project's warnings on for targets.
function(hbeat_warnings)
  foreach(t ${ARGN})
    target_compile_options(${t} PRIVATE ${HBEAT_WARNING_FLAGS})
  endforeach()
endfunction()
