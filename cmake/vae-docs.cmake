# Writes the man page and the bash completion by running the built binary
# (`vae --man`, `vae --completion bash`), so both come from the option tables.
# Called by the build: cmake -DVAE=path/to/vae -DOUT_DIR=dir -P vae-docs.cmake
foreach(doc "man;vae.1;--man" "completion;vae.bash-completion;--completion;bash")
  list(GET doc 1 file)
  list(SUBLIST doc 2 -1 args)
  # a temp name, renamed when whole: a failed run leaves no partial file
  execute_process(COMMAND ${VAE} ${args} OUTPUT_FILE ${OUT_DIR}/${file}.tmp RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    file(REMOVE ${OUT_DIR}/${file}.tmp)
    message(FATAL_ERROR "`${VAE} ${args}` failed (${rc})")
  endif()
  file(RENAME ${OUT_DIR}/${file}.tmp ${OUT_DIR}/${file})
endforeach()
