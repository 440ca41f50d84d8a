# Applies HBEAT_SANITIZE to everything built in this tree.
if(HBEAT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(HBEAT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT HBEAT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "HBEAT_SANITIZE must be empty, 'address' or 'thread', not '${HBEAT_SANITIZE}'")
endif()
