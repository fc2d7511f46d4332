# NnfiStatus.cmake - one ✓/✗ line per optional component at configure time.
function(nnfi_status_line ok text)
  if(ok)
    message(STATUS "✓ ${text}")
  else()
    message(STATUS "✗ ${text}")
  endif()
endfunction()
