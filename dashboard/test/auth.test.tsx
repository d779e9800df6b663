import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { App, createQueryClient } from "../src/App";
import { ApiError } from "../src/api";
import { TOKEN_KEY } from "../src/lib/storage";
import { harness, renderApp, USER } from "./fakes";

describe("login and logout", () => {
  it("logs in, keeps the token in localStorage and shows the dashboard", async () => {
    const user = userEvent.setup();
    const h = harness();
    render(<App services={h.services} queryClient={createQueryClient()} />);
    await user.type(screen.getByLabelText("Email"), "avery@leadcast.test");
    await user.type(screen.getByLabelText("Password"), "leadcast-demo");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("heading", { name: "Your leads" })).toBeInTheDocument();
    expect(h.api.login).toHaveBeenCalledWith("avery@leadcast.test", "leadcast-demo");
    expect(window.localStorage.getItem(TOKEN_KEY)).toBe("t0k3n");
    expect(screen.getByRole("button", { name: /Avery Quinn/ })).toBeInTheDocument();
  });

  it("says so when the password is wrong", async () => {
    const user = userEvent.setup();
    const h = harness({
      login: async () => {
        throw new ApiError(401, "wrong email or password");
      },
    });
    render(<App services={h.services} queryClient={createQueryClient()} />);
    await user.type(screen.getByLabelText("Email"), "avery@leadcast.test");
    await user.type(screen.getByLabelText("Password"), "nope-nope");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("do not match");
    expect(window.localStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it("drops an expired stored token", async () => {
    const h = harness({
      me: async () => {
        throw new ApiError(401, "invalid or expired token");
      },
    });
    renderApp(h);
    expect(await screen.findByText(/session has ended/)).toBeInTheDocument();
    expect(window.localStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it("logs out from the user menu", async () => {
    const user = userEvent.setup();
    const h = harness();
    renderApp(h);
    await user.click(await screen.findByRole("button", { name: /Avery Quinn/ }));
    await user.click(screen.getByRole("button", { name: "Log out" }));
    await screen.findByRole("button", { name: "Log in" });
    expect(h.api.logout).toHaveBeenCalledOnce();
    await waitFor(() => expect(window.localStorage.getItem(TOKEN_KEY)).toBeNull());
  });

  it("forgets the PM's data on logout, so the next PM never sees it", async () => {
    const user = userEvent.setup();
    const h = harness();
    const { queryClient } = renderApp(h);
    await screen.findByText("No leads yet");
    await waitFor(() => expect(queryClient.getQueryData(["preferences", USER.id])).toBeDefined());
    expect(queryClient.getQueryCache().findAll({ queryKey: ["leads"] })).not.toEqual([]);
    await user.click(screen.getByRole("button", { name: /Avery Quinn/ }));
    await user.click(screen.getByRole("button", { name: "Log out" }));
    await screen.findByRole("button", { name: "Log in" });
    await waitFor(() => expect(queryClient.getQueryCache().getAll()).toEqual([]));
  });
});
