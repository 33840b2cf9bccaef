# Packages, built with CPack from one build dir (README, "Packages"; docs/operations.md):
#
#   cpack -G DEB   dlb-agent, dlb-tools, dlb-console .deb (tested: scripts/test.sh, pass package)
#   cpack -G RPM   the same three as .rpm (built, not installed here: no RPM system to test on)
#   cpack -G TGZ   one .tar.gz per package, paths as installed (/usr/bin, /etc/dlb, ...)
#   cpack -G NSIS / DragNDrop   the console alone, for Windows / macOS: configured, UNTESTED
#
# Components, one package each:
#   agent    dlb-agent, dlbctl (agent/ctl installs it here), the systemd unit, /etc/dlb/agent.json,
#            logrotate, man pages: what a server running the proxy needs
#   tools    dlb-replica, dlb-loadgen: a fake backend and a load generator are for demos, tests and
#            benchmarks, not for production servers, so they are a package of their own
#   console  dlb-console with its .desktop entry, icon and AppStream metadata
#
# Paths: programs and data go under the install prefix (/usr in packages); the config, the unit and
# the logrotate file go to absolute paths that the OS reads them from, so packages are staged with
# DESTDIR (CPACK_SET_DESTDIR) and `cmake --install` writes those three into the live system.

set(DLB_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
set(DLB_PACKAGE_MAINTAINER "dlb maintainers <maintainers@users.noreply.r-seed-edaa559f.example>"
  CACHE STRING "Maintainer field of the packages")
# Debian revision of the packages (version 0.1.0-1); bump it for a rebuild of the same sources.
set(DLB_PACKAGE_RELEASE 1 CACHE STRING "Package release (Debian revision, RPM release)")

# Absolute locations the OS looks in. /lib/systemd/system is Debian 12's unit path (/usr/lib on
# Fedora works through its /lib symlink).
set(DLB_CONFIG_DIR /etc/dlb)
set(DLB_SYSTEMD_UNIT_DIR /lib/systemd/system)
set(DLB_LOGROTATE_DIR /etc/logrotate.d)

# Generated files: what carries the version, and what Debian wants compressed (gzip -9n: no name
# or time stamp in the header, so the packages are reproducible).
set(DLB_PKG_GEN ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${DLB_PKG_GEN})
string(TIMESTAMP DLB_PACKAGE_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  # string(TIMESTAMP) honours SOURCE_DATE_EPOCH, so a reproducible build gets a fixed date.
  message(STATUS "packages: changelog date from SOURCE_DATE_EPOCH: ${DLB_PACKAGE_DATE}")
endif()

function(dlb_gzip in out)
  execute_process(COMMAND gzip -9nc ${in} OUTPUT_FILE ${out} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip -9nc ${in} failed (${rc}); gzip is needed to build the packages' man pages")
  endif()
endfunction()

# Man pages (hand-written roff in packaging/man/); dlbctl.1 belongs to agent/ctl and is packaged
# when it is there.
set(DLB_MAN_agent dlb-agent.1 dlbctl.1)
set(DLB_MAN_tools dlb-replica.1 dlb-loadgen.1)
set(DLB_MAN_console dlb-console.1)
set(DLB_COMPONENTS agent tools)
if(DLB_BUILD_CONSOLE)
  list(APPEND DLB_COMPONENTS console)
endif()
foreach(comp ${DLB_COMPONENTS})
  foreach(page ${DLB_MAN_${comp}})
    set(src ${DLB_PACKAGING_DIR}/man/${page})
    if(NOT EXISTS ${src})
      continue()
    endif()
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
    dlb_gzip(${src} ${DLB_PKG_GEN}/${page}.gz)
    install(FILES ${DLB_PKG_GEN}/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${comp})
  endforeach()
endforeach()

# Each package's /usr/share/doc/<package>: copyright and changelog (Debian policy 12.5, 12.7).
set(DLB_PKG_agent dlb-agent)
set(DLB_PKG_tools dlb-tools)
set(DLB_PKG_console dlb-console)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${DLB_PACKAGING_DIR}/debian/changelog.in ${DLB_PACKAGING_DIR}/debian/copyright)
foreach(comp ${DLB_COMPONENTS})
  set(DLB_PACKAGE_NAME ${DLB_PKG_${comp}})
  configure_file(${DLB_PACKAGING_DIR}/debian/changelog.in ${DLB_PKG_GEN}/${comp}/changelog.Debian @ONLY)
  dlb_gzip(${DLB_PKG_GEN}/${comp}/changelog.Debian ${DLB_PKG_GEN}/${comp}/changelog.Debian.gz)
  install(FILES ${DLB_PKG_GEN}/${comp}/changelog.Debian.gz ${DLB_PACKAGING_DIR}/debian/copyright
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${DLB_PKG_${comp}} COMPONENT ${comp})
endforeach()

# --- agent: the unit, the default config (a conffile), logrotate, the operations guide
install(FILES ${DLB_PACKAGING_DIR}/systemd/dlb-agent.service DESTINATION ${DLB_SYSTEMD_UNIT_DIR} COMPONENT agent)
# 0644 in the package (Debian's norm); postinst makes it root:dlb 0640 once the group exists.
install(FILES ${DLB_PACKAGING_DIR}/agent/agent.json DESTINATION ${DLB_CONFIG_DIR} COMPONENT agent)
install(FILES ${DLB_PACKAGING_DIR}/agent/logrotate DESTINATION ${DLB_LOGROTATE_DIR} RENAME dlb-agent COMPONENT agent)
install(FILES ${CMAKE_SOURCE_DIR}/docs/operations.md ${CMAKE_SOURCE_DIR}/docs/configuration.md
  ${CMAKE_SOURCE_DIR}/docs/control-api.md
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/dlb-agent COMPONENT agent)

# --- console: desktop entry, icon, AppStream metadata (the id org.dlb.Console names all three)
if(DLB_BUILD_CONSOLE)
  install(FILES ${DLB_PACKAGING_DIR}/console/org.dlb.Console.desktop
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/applications COMPONENT console)
  install(FILES ${CMAKE_SOURCE_DIR}/resources/icons/dlb.svg
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/icons/hicolor/scalable/apps RENAME org.dlb.Console.svg COMPONENT console)
  install(FILES ${DLB_PACKAGING_DIR}/console/org.dlb.Console.metainfo.xml
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/metainfo COMPONENT console)
endif()

# --- CPack
set(CPACK_PACKAGE_NAME dlb)
set(CPACK_PACKAGE_VENDOR "dlb")
set(CPACK_PACKAGE_CONTACT "${DLB_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_INSTALL_DIRECTORY dlb)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON) # the absolute paths above land in the package, not in the live /etc
set(CPACK_INSTALL_PREFIX ${CPACK_PACKAGING_INSTALL_PREFIX}) # the prefix under DESTDIR
set(CPACK_STRIP_FILES ON) # RelWithDebInfo binaries; Debian ships stripped ones
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/packages)
set(CPACK_GENERATOR DEB TGZ)
set(CPACK_COMPONENTS_ALL ${DLB_COMPONENTS})
set(CPACK_COMPONENT_AGENT_DISPLAY_NAME "dlb agent")
set(CPACK_COMPONENT_TOOLS_DISPLAY_NAME "dlb test and benchmark tools")
set(CPACK_COMPONENT_CONSOLE_DISPLAY_NAME "dlb console")

# Debian
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DLB_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME dlb-agent)
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME dlb-tools)
set(CPACK_DEBIAN_CONSOLE_PACKAGE_NAME dlb-console)
# adduser for the dlb user (postinst); shlibdeps adds the libraries.
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_AGENT_PACKAGE_SUGGESTS "dlb-tools, logrotate")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
  ${DLB_PACKAGING_DIR}/debian/agent/conffiles ${DLB_PACKAGING_DIR}/debian/agent/postinst
  ${DLB_PACKAGING_DIR}/debian/agent/prerm ${DLB_PACKAGING_DIR}/debian/agent/postrm)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION devel)
# Qt loads the PostgreSQL driver and the SVG icon engine as plugins: shlibdeps cannot see them.
set(CPACK_DEBIAN_CONSOLE_PACKAGE_DEPENDS "libqt6sql6-psql, libqt6svg6")
set(CPACK_DEBIAN_CONSOLE_PACKAGE_SECTION admin)
# What each package is: a synopsis line and a paragraph, for DEB, RPM and the installers.
set(DLB_SUMMARY_agent "dynamic HTTP load balancer steered by probed replica load")
set(DLB_DESC_agent "dlb-agent is an HTTP/1.1 reverse proxy and load balancer that picks a replica
for every request from load signals probed from the replicas (the Prequal
algorithm), which keeps tail latency low when replicas are uneven. Round
robin, least request, power of d, consistent hashing and others are built in.

This package holds the agent, its command-line client dlbctl, a sandboxed
systemd unit, a default configuration in /etc/dlb and a logrotate file.")
set(DLB_SUMMARY_tools "demo backend and load generator for the dlb load balancer")
set(DLB_DESC_tools "dlb-replica is an HTTP backend with real queueing behaviour and a probe
endpoint, for demos, tests and benchmarks of dlb-agent; dlb-loadgen is an
open- and closed-loop HTTP/1.1 load generator that reports latency
percentiles and per-replica shares.")
set(DLB_SUMMARY_console "desktop console of the dlb load balancer")
set(DLB_DESC_console "dlb-console is a Qt desktop console for administrators of dlb-agent. Its
accounts are PostgreSQL login roles, so the database itself enforces who may
do what; it manages accounts and shows the audit log.")
foreach(comp agent tools console)
  string(TOUPPER ${comp} COMP)
  set(CPACK_DEBIAN_${COMP}_DESCRIPTION "${DLB_SUMMARY_${comp}}\n${DLB_DESC_${comp}}")
  set(CPACK_RPM_${COMP}_PACKAGE_SUMMARY "${DLB_SUMMARY_${comp}}")
  set(CPACK_RPM_${COMP}_PACKAGE_DESCRIPTION "${DLB_DESC_${comp}}")
  set(CPACK_COMPONENT_${COMP}_DESCRIPTION "${DLB_SUMMARY_${comp}}")
endforeach()

# RPM (rpmbuild from Debian's rpm package)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE ${DLB_PACKAGE_RELEASE})
set(CPACK_RPM_PACKAGE_LICENSE "not yet chosen") # as packaging/debian/copyright says
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_PACKAGE_RELOCATABLE OFF) # the paths are fixed: /etc/dlb, the unit
set(CPACK_RPM_AGENT_PACKAGE_NAME dlb-agent)
set(CPACK_RPM_TOOLS_PACKAGE_NAME dlb-tools)
set(CPACK_RPM_CONSOLE_PACKAGE_NAME dlb-console)
set(CPACK_RPM_AGENT_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_AGENT_PRE_INSTALL_SCRIPT_FILE ${DLB_PACKAGING_DIR}/rpm/agent-pre.sh)
set(CPACK_RPM_AGENT_POST_INSTALL_SCRIPT_FILE ${DLB_PACKAGING_DIR}/rpm/agent-post.sh)
set(CPACK_RPM_AGENT_PRE_UNINSTALL_SCRIPT_FILE ${DLB_PACKAGING_DIR}/rpm/agent-preun.sh)
# noreplace: an upgrade keeps an edited config (the new one lands beside it as .rpmnew).
set(CPACK_RPM_AGENT_USER_FILELIST
  "%config(noreplace) ${DLB_CONFIG_DIR}/agent.json" "%config(noreplace) ${DLB_LOGROTATE_DIR}/dlb-agent")
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
  /etc /etc/logrotate.d /lib /lib/systemd /lib/systemd/system /usr/share/man /usr/share/man/man1
  /usr/share/applications /usr/share/icons /usr/share/icons/hicolor /usr/share/icons/hicolor/scalable
  /usr/share/icons/hicolor/scalable/apps /usr/share/metainfo /usr/share/doc)

# Archives: one per package
set(CPACK_ARCHIVE_COMPONENT_INSTALL ON)
foreach(comp agent tools console)
  string(TOUPPER ${comp} COMP)
  set(CPACK_ARCHIVE_${COMP}_FILE_NAME "${DLB_PKG_${comp}}-${PROJECT_VERSION}-${CMAKE_SYSTEM_NAME}-${CMAKE_SYSTEM_PROCESSOR}")
endforeach()

# NSIS and DragNDrop package the console alone (packaging/cpack_project.cmake.in); untested here.
set(CPACK_PACKAGE_EXECUTABLES dlb-console "dlb console")
set(CPACK_NSIS_DISPLAY_NAME "dlb console")
set(CPACK_NSIS_PACKAGE_NAME "dlb console")
configure_file(${DLB_PACKAGING_DIR}/cpack_project.cmake.in ${DLB_PKG_GEN}/cpack_project.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${DLB_PKG_GEN}/cpack_project.cmake)

include(CPack)

# The package test (label package): builds the packages, installs them into this machine with
# dpkg, runs the installed agent, upgrades, removes and purges. It needs root (or sudo) and
# Debian, so it is registered only on request: scripts/test.sh's pass "package" does.
option(DLB_PACKAGE_TESTS "Register the package test (dpkg -i into this machine; root or sudo)" OFF)
if(DLB_PACKAGE_TESTS)
  enable_testing()
  add_test(NAME package_install COMMAND bash ${DLB_PACKAGING_DIR}/test/package_test.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(package_install PROPERTIES LABELS package TIMEOUT 300 RUN_SERIAL ON)
endif()
