# Debian's xsimd 8.1 package exports a target that links "xtl" without finding it, so every
# link line gets a bare -lxtl. xtl is header-only and xsimd needs it only for xtl's complex type,
# which ponet does not use: when no xtl target exists, an empty one stands in for it.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_ponet_xsimd_links xsimd INTERFACE_LINK_LIBRARIES)
  if(_ponet_xsimd_links MATCHES "xtl")
    add_library(xtl INTERFACE IMPORTED)
  endif()
endif()
