import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiError } from "../src/api";
import { preferencesKey } from "../src/lib/storage";
import { harness, renderApp, USER } from "./fakes";

const stored = () => JSON.parse(window.localStorage.getItem(preferencesKey(USER.id)) ?? "null");

describe("preferences", () => {
  it('"Enable sound" resumes audio from the click and is remembered on the server and locally', async () => {
    const user = userEvent.setup();
    const h = harness();
    renderApp(h);
    await user.click(await screen.findByRole("button", { name: /^Notifications/ }));
    const toggle = screen.getByRole("switch", { name: "Enable sound" });
    expect(toggle).toHaveAttribute("aria-checked", "false");
    await user.click(toggle);
    expect(h.sound.unlock).toHaveBeenCalledOnce();
    await waitFor(() =>
      expect(h.api.savePreferences).toHaveBeenCalledWith({
        sound: true,
        toast_min_tier: "fair",
        desktop_notifications: false,
      }),
    );
    expect(screen.getByRole("switch", { name: "Sound on" })).toHaveAttribute("aria-checked", "true");
    expect(stored()).toMatchObject({ sound: true });
  });

  it("still remembers the choice locally when the server has no preferences route", async () => {
    const user = userEvent.setup();
    const missing = async () => {
      throw new ApiError(404, "not found");
    };
    const h = harness({ preferences: missing, savePreferences: missing });
    renderApp(h);
    window.location.hash = "#/preferences";
    await user.click(await screen.findByRole("radio", { name: "Excellent leads only" }));
    await waitFor(() => expect(stored()).toMatchObject({ toast_min_tier: "excellent" }));
    expect(screen.getByRole("radio", { name: "Excellent leads only" })).toBeChecked();
    expect(screen.queryByText(/Could not save/)).toBeNull();
  });

  it("asks for desktop notification permission only from the click", async () => {
    const user = userEvent.setup();
    const h = harness();
    window.location.hash = "#/preferences";
    renderApp(h);
    const toggle = await screen.findByRole("switch", {
      name: /Notify me when this tab is in the background/,
    });
    expect(h.desktop.requestPermission).not.toHaveBeenCalled();
    await user.click(toggle);
    expect(h.desktop.requestPermission).toHaveBeenCalledOnce();
    await waitFor(() =>
      expect(h.api.savePreferences).toHaveBeenCalledWith(
        expect.objectContaining({ desktop_notifications: true }),
      ),
    );
  });

  it("explains a refused permission and leaves the setting off", async () => {
    const user = userEvent.setup();
    const h = harness();
    h.desktop.requestPermission.mockResolvedValue("denied");
    window.location.hash = "#/preferences";
    renderApp(h);
    await user.click(await screen.findByRole("switch", { name: /Notify me/ }));
    expect(await screen.findByText(/did not allow notifications/)).toBeInTheDocument();
    expect(h.api.savePreferences).not.toHaveBeenCalled();
  });

  it("loads the server's preferences", async () => {
    const h = harness();
    renderApp(h);
    h.api.preferences.mockResolvedValue({
      sound: true,
      toast_min_tier: "good",
      desktop_notifications: false,
    });
    window.location.hash = "#/preferences";
    expect(await screen.findByRole("radio", { name: "Good and excellent leads" })).toBeInTheDocument();
  });
});
