import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiError } from "../src/api";
import { preferencesKey } from "../src/lib/storage";
import { harness, leadEvent, renderApp, USER, type Harness } from "./fakes";

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
    const toggle = await screen.findByRole("switch", { name: /Notify me/ });
    await user.click(toggle);
    expect(await screen.findByText("Blocked in browser settings.")).toBeInTheDocument();
    expect(toggle).toHaveAttribute("aria-checked", "false");
    expect(h.api.savePreferences).not.toHaveBeenCalled();
  });

  it("shows the server's preferences, not the ones this browser remembered", async () => {
    const h = harness();
    h.desktop.permission.mockReturnValue("granted");
    window.location.hash = "#/preferences";
    renderApp(h, {}, { server: { sound: true, toast_min_tier: "good", desktop_notifications: true } });
    const good = await screen.findByRole("radio", { name: "Good and excellent leads" });
    await waitFor(() => expect(good).toBeChecked());
    expect(screen.getByRole("radio", { name: "Every lead" })).not.toBeChecked();
    expect(screen.getByRole("switch", { name: "Sound on" })).toHaveAttribute("aria-checked", "true");
    expect(screen.getByRole("switch", { name: /Notify me/ })).toHaveAttribute("aria-checked", "true");
    expect(stored()).toEqual({ sound: true, toast_min_tier: "good", desktop_notifications: true });
    expect(h.api.savePreferences).not.toHaveBeenCalled();
  });
});

describe("desktop notifications on for the account", () => {
  const server = { desktop_notifications: true };

  it("are off, with an Allow button, until this browser allows them; asking is left to a click", async () => {
    const user = userEvent.setup();
    const h = harness(); // permission "default"
    window.location.hash = "#/preferences";
    renderApp(h, server);
    const toggle = await screen.findByRole("switch", { name: /Notify me/ });
    expect(toggle).toHaveAttribute("aria-checked", "false");
    expect(toggle).toHaveAccessibleDescription(/not been allowed to show them yet/);
    expect(h.desktop.requestPermission).not.toHaveBeenCalled();

    await user.click(screen.getByRole("button", { name: "Allow in this browser" }));
    expect(h.desktop.requestPermission).toHaveBeenCalledOnce();
    await waitFor(() => expect(toggle).toHaveAttribute("aria-checked", "true"));
    expect(screen.queryByRole("button", { name: "Allow in this browser" })).toBeNull();
    expect(h.api.savePreferences).not.toHaveBeenCalled(); // the account already had them on
  });

  it("say when the browser blocks them, with no Allow button", async () => {
    const h = harness();
    h.desktop.permission.mockReturnValue("denied");
    window.location.hash = "#/preferences";
    renderApp(h, server);
    const toggle = await screen.findByRole("switch", { name: /Notify me/ });
    expect(toggle).toHaveAttribute("aria-checked", "false");
    expect(toggle).toHaveAccessibleDescription(/Blocked in browser settings/);
    expect(screen.queryByRole("button", { name: "Allow in this browser" })).toBeNull();
  });

  it("are on when this browser allows them, and the switch turns them off", async () => {
    const user = userEvent.setup();
    const h = harness();
    h.desktop.permission.mockReturnValue("granted");
    window.location.hash = "#/preferences";
    renderApp(h, server);
    const toggle = await screen.findByRole("switch", { name: /Notify me/ });
    expect(toggle).toHaveAttribute("aria-checked", "true");
    expect(screen.queryByRole("button", { name: "Allow in this browser" })).toBeNull();
    await user.click(toggle);
    await waitFor(() =>
      expect(h.api.savePreferences).toHaveBeenCalledWith(
        expect.objectContaining({ desktop_notifications: false }),
      ),
    );
    expect(toggle).toHaveAttribute("aria-checked", "false");
    expect(h.desktop.requestPermission).not.toHaveBeenCalled();
  });

  it("follow a permission changed in the browser's settings when the PM comes back", async () => {
    const h = harness();
    window.location.hash = "#/preferences";
    renderApp(h, server);
    const toggle = await screen.findByRole("switch", { name: /Notify me/ });
    expect(toggle).toHaveAttribute("aria-checked", "false");
    h.desktop.permission.mockReturnValue("granted");
    // The listener is attached by an effect that may run after the switch is on screen.
    await waitFor(() => {
      window.dispatchEvent(new Event("focus"));
      expect(toggle).toHaveAttribute("aria-checked", "true");
    });
  });
});

/** The dashboard is up and its effects have run (the listeners too): the connection was opened. */
async function effectsRan(h: Harness) {
  await screen.findByRole("heading", { name: "Your leads" });
  await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
}

describe("sound after a reload", () => {
  it("is unlocked by the first pointer press or key, once", async () => {
    const h = harness();
    renderApp(h, { sound: true });
    await effectsRan(h);
    expect(h.sound.unlock).not.toHaveBeenCalled(); // browsers refuse audio before a gesture
    fireEvent.pointerDown(document.body);
    expect(h.sound.unlock).toHaveBeenCalledOnce();
    fireEvent.keyDown(document.body, { key: "a" });
    fireEvent.pointerDown(document.body);
    expect(h.sound.unlock).toHaveBeenCalledOnce();
  });

  it("is unlocked by a key press as well", async () => {
    const h = harness();
    renderApp(h, { sound: true });
    await effectsRan(h);
    fireEvent.keyDown(document.body, { key: "Tab" });
    expect(h.sound.unlock).toHaveBeenCalledOnce();
  });

  it("is left alone when sound is off", async () => {
    const h = harness();
    renderApp(h, { sound: false });
    await effectsRan(h);
    fireEvent.pointerDown(document.body);
    fireEvent.keyDown(document.body, { key: "a" });
    expect(h.sound.unlock).not.toHaveBeenCalled();
  });

  it("then chimes for excellent leads only", async () => {
    const h = harness();
    renderApp(h, { sound: true });
    await effectsRan(h);
    fireEvent.pointerDown(document.body);
    act(() => {
      h.realtime.connection.emit(leadEvent(1, "good"));
      h.realtime.connection.emit(leadEvent(2, "fair"));
    });
    expect(h.sound.play).not.toHaveBeenCalled();
    act(() => h.realtime.connection.emit(leadEvent(3, "excellent")));
    expect(h.sound.play).toHaveBeenCalledOnce();
  });
});
