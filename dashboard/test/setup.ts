import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// CI runs on a busy 2-core machine: findBy*/waitFor give up after 5 s instead of 1 s. They still
// return as soon as what they wait for is true, so passing tests are no slower.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => {
  cleanup();
  window.localStorage.clear();
  window.location.hash = "";
  document.title = "";
});
