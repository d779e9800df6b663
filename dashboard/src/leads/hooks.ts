import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { LeadFilters, LeadStatus } from "../api";
import { useApi } from "../services";

export const PER_PAGE = 20;

/** The PM's leads; refetched (at most once per second) when a lead arrives. */
export function useLeads(filters: LeadFilters) {
  const api = useApi();
  return useQuery({
    queryKey: ["leads", "list", filters],
    queryFn: () => api.leads({ ...filters, per_page: PER_PAGE }),
    placeholderData: keepPreviousData,
  });
}

/** One lead with contact details (opening it marks it viewed). */
export function useLead(id: number | null) {
  const api = useApi();
  return useQuery({
    queryKey: ["leads", "detail", id],
    queryFn: () => api.lead(id as number),
    enabled: id !== null,
  });
}

export function useLeadStatus() {
  const api = useApi();
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, status }: { id: number; status: LeadStatus }) => api.setLeadStatus(id, status),
    onSuccess: (detail) => {
      client.setQueryData(["leads", "detail", detail.id], detail);
      void client.invalidateQueries({ queryKey: ["leads", "list"] });
    },
  });
}
